import type { Ledger } from "../ledger/ledger.js";

/** The ledger mark the memory is kept under, in the state snapshot. */
export const MEMORY_MARK = "responses.context_tokens";

/** How many responses, conversations and output items are remembered; the least recently used go first. */
export const REMEMBERED = 20_000;

function isCount(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

/**
 * What each Responses API answer (and conversation) holds as context, in
 * tokens, by its id: a turn that continues it (`previous_response_id`,
 * `conversation`) is billed that much input that the client never sends.
 * Bounded (least recently used first out) and kept in the ledger's snapshot,
 * so a restart remembers what the last snapshot had; what it does not know
 * is reserved at the model's context window.
 */
export class ResponseMemory {
  private readonly tokens = new Map<string, number>();

  constructor(
    private readonly ledger: Pick<Ledger, "mark" | "setMark">,
    private readonly limit = REMEMBERED,
  ) {
    const saved = ledger.mark(MEMORY_MARK);
    for (const entry of Array.isArray(saved) ? saved : []) {
      if (Array.isArray(entry) && typeof entry[0] === "string" && isCount(entry[1]))
        this.put(entry[0], entry[1]);
    }
  }

  /** The context tokens of a response or conversation; undefined when it is not known here. */
  get(id: string): number | undefined {
    const n = this.tokens.get(id);
    if (n !== undefined) {
      // Used again: it moves to the back of the queue.
      this.tokens.delete(id);
      this.tokens.set(id, n);
    }
    return n;
  }

  remember(id: string, tokens: number): void {
    if (!id || !isCount(tokens)) return;
    this.put(id, tokens);
    this.ledger.setMark(MEMORY_MARK, this);
  }

  get size(): number {
    return this.tokens.size;
  }

  private put(id: string, tokens: number): void {
    this.tokens.delete(id);
    this.tokens.set(id, tokens);
    for (const oldest of this.tokens.keys()) {
      if (this.tokens.size <= this.limit) break;
      this.tokens.delete(oldest);
    }
  }

  /** The snapshot's form: `[id, tokens]` pairs, oldest first. */
  toJSON(): [string, number][] {
    return [...this.tokens];
  }
}
