import { join } from "node:path";
import type { Policy } from "../budget/policy.js";
import { Books } from "./booking.js";
import { CORRECTIONS_MARK, Corrections } from "./corrections.js";
import { OVERRIDES_MARK, Overrides } from "./overrides.js";
import { LedgerQueries } from "./queries.js";
import { replayJournal, soundEntry } from "./replay.js";
import { loadSnapshot, SnapshotStore, STATE_FILE } from "./snapshot.js";
import { budgetStatus, type Judges, type StatusQuery, type StatusReport } from "./status.js";

/**
 * The ledger as its files say, read without the lock and without writing
 * anything: the snapshot, then the journal after it (a torn last line is
 * skipped, not cut off). What `status` shows when no daemon runs. Requests
 * in flight are only known to a running daemon; reservations the files
 * still hold (a daemon that crashed) are shown as reserved — the next start
 * charges them.
 */
export class LedgerView {
  private constructor(
    private readonly policy: Policy,
    private readonly queries: LedgerQueries,
    private readonly marks: Record<string, unknown>,
  ) {}

  static async read(dir: string, policy: Policy, now: () => number = Date.now): Promise<LedgerView> {
    const journal = join(dir, "journal");
    const { state, counters } = await loadSnapshot(new SnapshotStore(join(dir, STATE_FILE)), policy, journal);
    const seq = state?.seq ?? 0;
    const corrections = Corrections.from(
      seq > 0 ? state?.marks[CORRECTIONS_MARK] : undefined,
      policy.timeZone,
    );
    const overrides = Overrides.from(seq > 0 ? state?.marks[OVERRIDES_MARK] : undefined);
    const books = new Books(policy, counters, corrections, overrides, now);
    for (const r of state?.reservations ?? []) books.book(soundEntry(r) as typeof r);
    replayJournal(journal, books, { seq, month: state?.month ?? null }, seq === 0, false);
    return new LedgerView(policy, new LedgerQueries(books), state?.marks ?? {});
  }

  /** A mark as of the last snapshot (alerts fired, …). */
  mark(name: string): unknown {
    return this.marks[name];
  }

  budgetStatus(query: StatusQuery, now: number, judges?: Judges): StatusReport {
    return budgetStatus(this.queries, this.policy, query, now, "journal", judges);
  }
}
