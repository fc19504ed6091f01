import type { Books } from "./booking.js";
import { readJournal } from "./journal.js";

export interface ReplayResult {
  replayed: number;
  /** Bytes of a torn last line cut off the newest file. */
  tornBytes: number;
  /** The last entry applied (or the snapshot's, when none was). */
  seq: number;
  month: string | null;
}

/**
 * Applies the journal's entries after `from.seq` to the books: all files when
 * `full`, else from the snapshot's month on. Cuts a torn last line off the
 * newest file (the caller holds the lock); stops with `ledger_corrupt`, naming
 * file and line, at a bad line anywhere else.
 */
export function replayJournal(
  dir: string,
  books: Books,
  from: { seq: number; month: string | null },
  full: boolean,
): ReplayResult {
  let { seq, month } = from;
  let replayed = 0;
  const result = readJournal(
    dir,
    (entry) => {
      if (entry.seq <= from.seq) return;
      books.apply(entry);
      seq = entry.seq;
      month = entry.ts.slice(0, 7);
      replayed++;
    },
    {
      repair: true,
      afterSeq: from.seq,
      ...(full || from.month === null ? {} : { fromMonth: from.month }),
    },
  );
  return { replayed, tornBytes: result.tornBytes, seq, month };
}
