import { LRUCache } from "lru-cache";

/**
 * Token counts of the texts used recently. Conversations resend their whole
 * history with every turn, agents their system prompt and tool schemas:
 * remembering each text's count leaves only the new message to tokenize.
 * Bounded by the total length of the texts kept; the least recently used go
 * first, so a hot system prompt outlives a stream of one-off texts. A text
 * longer than a tenth of the bound is never kept.
 */
export class TextCounts {
  private readonly counts: LRUCache<string, number>;

  constructor(maxChars: number) {
    this.counts = new LRUCache<string, number>({
      maxSize: maxChars,
      maxEntrySize: Math.floor(maxChars / 10),
      sizeCalculation: (_n, text) => Math.max(1, text.length),
    });
  }

  get(text: string): number | undefined {
    return this.counts.get(text);
  }

  set(text: string, tokens: number): void {
    this.counts.set(text, tokens);
  }
}

/** `count`, remembered for the texts used recently (see `TextCounts`). */
export function memoByText(count: (text: string) => number, maxChars: number): (text: string) => number {
  const counts = new TextCounts(maxChars);
  return (text) => {
    const known = counts.get(text);
    if (known !== undefined) return known;
    const n = count(text);
    counts.set(text, n);
    return n;
  };
}
