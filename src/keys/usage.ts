/** The ledger mark that keeps when each key was last used, saved with the snapshot. */
export const LAST_USED_MARK = "keys.last_used";

/**
 * When each key was last used, to the second: touched on every authenticated
 * request (a map write, and none at all within the same second), persisted
 * with the ledger's snapshot, never by a file write per request.
 */
export class KeyUsage {
  private readonly seen = new Map<string, number>();
  private changed = false;

  /** From the mark a snapshot kept: { name: epoch seconds }. */
  static from(mark: unknown): KeyUsage {
    const usage = new KeyUsage();
    if (mark !== null && typeof mark === "object") {
      for (const [name, at] of Object.entries(mark)) if (Number.isSafeInteger(at)) usage.seen.set(name, at);
    }
    return usage;
  }

  touch(name: string, now: number): void {
    // Epoch seconds stay small integers (no heap number per request) until 2038.
    const second = Math.floor(now / 1000);
    if (this.seen.get(name) === second) return;
    this.seen.set(name, second);
    this.changed = true;
  }

  /** Epoch ms, or undefined when never seen. */
  lastUsed(name: string): number | undefined {
    const at = this.seen.get(name);
    return at === undefined ? undefined : at * 1000;
  }

  /** The mark to save when something changed since the last call; undefined when nothing did. */
  takeMark(): Record<string, number> | undefined {
    if (!this.changed) return undefined;
    this.changed = false;
    return Object.fromEntries(this.seen);
  }
}
