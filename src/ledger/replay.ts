import type { Books } from "./booking.js";
import { isCount } from "./counters.js";
import { type JournalEntry, readJournal } from "./journal.js";
import { readRollup, rollupMonths, rollupPath } from "./rollup.js";

export interface ReplayResult {
  replayed: number;
  /** Entries whose amounts were not integers (written by an older version): read as their worst case. */
  repaired: number;
  /** Bytes of a torn last line cut off the newest file. */
  tornBytes: number;
  /** The last entry applied (or the snapshot's, when none was). */
  seq: number;
  month: string | null;
}

/**
 * Applies the journal's entries after `from.seq` to the books: all files when
 * `full` — the compacted months' rollups first — else from the snapshot's
 * month on. With `repair` (the caller holds the lock) cuts a torn last line
 * off the newest file, else skips it; stops with `ledger_corrupt`, naming
 * file and line, at a bad line anywhere else, and at a rollup that does not
 * add up.
 */
export function replayJournal(
  dir: string,
  books: Books,
  from: { seq: number; month: string | null },
  full: boolean,
  /** Cut a torn last line off (start-up, under the lock); a rebuild while the journal is open reads only. */
  repair = true,
): ReplayResult {
  let { seq, month } = from;
  let replayed = 0;
  let repaired = 0;
  if (full) {
    for (const m of rollupMonths(dir)) {
      const header = readRollup(rollupPath(dir, m), {
        day: (row) => books.applyDay(row),
        entry: (entry) => books.apply(soundEntry(entry)),
      });
      for (const [type, n] of Object.entries(header.entries))
        if (type !== "reserve" && type !== "release") replayed += n;
      seq = Math.max(seq, header.last_seq);
      month = m;
    }
  }
  const result = readJournal(
    dir,
    (entry) => {
      if (entry.seq <= from.seq) return;
      const sound = soundEntry(entry);
      if (sound !== entry) repaired++;
      books.apply(sound);
      seq = entry.seq;
      month = entry.ts.slice(0, 7);
      replayed++;
    },
    {
      repair,
      afterSeq: from.seq,
      ...(full || from.month === null ? {} : { fromMonth: from.month }),
    },
  );
  return { replayed, repaired, tornBytes: result.tornBytes, seq, month };
}

/**
 * An entry with amounts the counters can take. Versions before 0.2 could
 * journal a NaN cost (as `null`), a negative one, or a negative reservation;
 * replaying those would poison the counters, so a settle is read at its
 * reservation (the worst case it was allowed), and any other bad amount as 0.
 */
export function soundEntry(entry: JournalEntry): JournalEntry {
  switch (entry.type) {
    case "reserve": {
      const r = entry.reserved;
      if (isCount(r.micros) && isCount(r.tokens) && isCount(r.requests)) return entry;
      const fix = (n: unknown) => (isCount(n) ? n : 0);
      return {
        ...entry,
        reserved: { micros: fix(r.micros), tokens: fix(r.tokens), requests: fix(r.requests) },
      };
    }
    case "settle":
      if (isCount(entry.cost) && isCount(entry.tokens)) return entry;
      return {
        ...entry,
        cost: isCount(entry.cost) ? entry.cost : isCount(entry.reserved) ? entry.reserved : 0,
        tokens: isCount(entry.tokens) ? entry.tokens : 0,
      };
    case "adjust":
      if (Number.isSafeInteger(entry.cost) && Number.isSafeInteger(entry.tokens)) return entry;
      return {
        ...entry,
        cost: Number.isSafeInteger(entry.cost) ? entry.cost : 0,
        tokens: Number.isSafeInteger(entry.tokens) ? entry.tokens : 0,
      };
    case "override":
      // An amount that is not a whole positive number raises nothing.
      return Number.isSafeInteger(entry.add) && entry.add > 0 ? entry : { ...entry, add: 0 };
    default:
      return entry;
  }
}
