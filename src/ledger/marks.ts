/**
 * Named facts other features keep with the ledger, saved in its snapshot:
 * the alerts' fired levels, reconciliation marks. Values are the owner's,
 * JSON-serialisable, and opaque here.
 */
export class Marks {
  private changed = false;

  constructor(private readonly values: Record<string, unknown> = {}) {}

  get(name: string): unknown {
    return this.values[name];
  }

  set(name: string, value: unknown): void {
    this.values[name] = value;
    this.changed = true;
  }

  /** Whether a mark changed since the last snapshot took them. */
  get dirty(): boolean {
    return this.changed;
  }

  /** The marks for a snapshot; `restore()` if that snapshot is not written after all. */
  take(): Record<string, unknown> {
    this.changed = false;
    return this.values;
  }

  restore(): void {
    this.changed = true;
  }
}
