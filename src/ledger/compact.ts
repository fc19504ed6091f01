import { statSync } from "node:fs";
import { open, rename, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Policy } from "../budget/policy.js";
import { TokenpakError } from "../errors.js";
import { fileMonth, journalFiles, readJournalAsync } from "./journal.js";
import {
  RollupBuilder,
  type RollupTotals,
  readRollupAsync,
  rollupMonths,
  rollupPath,
  sameTotals,
} from "./rollup.js";
import { fsyncDirectory } from "./snapshot.js";

const DAY_MS = 86_400_000;
/** A month is compacted only this long after it ended (UTC): zones run up to 14 h behind, settles a while after their reservation. */
const SETTLE_MARGIN_MS = 2 * DAY_MS;

export interface CompactOptions {
  /** Compact the journal months before this one (YYYY-MM). */
  before: string;
  /** Without it nothing changes: the result says what would be done. */
  apply: boolean;
  now: number;
  policy: Pick<Policy, "timeZone" | "rollingWindows">;
}

export interface CompactedMonth {
  month: string;
  /** Journal entries folded (reserves and releases included: they leave no trace in a rollup). */
  entries: number;
  journal_bytes: number;
  rollup_bytes: number;
  totals: RollupTotals;
}

export interface CompactResult {
  before: string;
  applied: boolean;
  timezone: string;
  months: CompactedMonth[];
  /** Months already held as rollups, before this run. */
  already: string[];
}

function monthStart(month: string): number {
  return Date.parse(`${month}-01T00:00:00Z`);
}

function nextMonth(month: string): string {
  const d = new Date(monthStart(month));
  d.setUTCMonth(d.getUTCMonth() + 1);
  return d.toISOString().slice(0, 7);
}

/**
 * The first month that may not be compacted yet at `now`: a month whose
 * spend a budget can still count — the current one, one within the longest
 * rolling window, or one that ended too recently for every settle of it to
 * be in.
 */
export function earliestKept(policy: CompactOptions["policy"], now: number): string {
  const longest = Math.max(0, ...policy.rollingWindows.map((w) => (w.kind === "rolling" ? w.ms : 0)));
  let month = new Date(now).toISOString().slice(0, 7);
  // Step back while the month before ended long enough ago.
  for (;;) {
    const prev = new Date(monthStart(month));
    prev.setUTCMonth(prev.getUTCMonth() - 1);
    const before = prev.toISOString().slice(0, 7);
    if (monthStart(nextMonth(before)) + Math.max(longest, SETTLE_MARGIN_MS) <= now) return month;
    month = before;
  }
}

/** Folds one month into its rollup, checks the written file against the month, then removes the month. */
async function compactMonth(dir: string, month: string, options: CompactOptions): Promise<CompactedMonth> {
  const journal = join(dir, `${month}.jsonl`);
  const builder = new RollupBuilder(month, options.policy.timeZone);
  const read = await readJournalAsync(
    dir,
    (e) => builder.add(e),
    (m) => (m === month ? "all" : "none"),
  );
  if (read.tornBytes > 0) {
    throw new TokenpakError(
      "ledger_corrupt",
      `${journal} ends in an incomplete line; start the proxy once (it cuts it off), then compact`,
      { file: journal },
    );
  }
  const text = builder.text(options.now);
  const result: CompactedMonth = {
    month,
    entries: read.entries,
    journal_bytes: statSync(journal).size,
    rollup_bytes: Buffer.byteLength(text),
    totals: { ...builder.totals },
  };
  if (!options.apply) return result;

  const final = rollupPath(dir, month);
  const temp = `${final}.tmp`;
  try {
    const file = await open(temp, "w", 0o600);
    try {
      await file.writeFile(text);
      await file.sync();
    } finally {
      await file.close();
    }
    // Read back from the disk, through the reader reports and replay use: it must add up to the month.
    const header = await readRollupAsync(temp, {});
    if (!sameTotals(header.totals, builder.totals) || header.last_seq !== read.lastSeq) {
      throw new TokenpakError(
        "internal_error",
        `the rollup written for ${month} does not add up to the month's journal; nothing was removed`,
      );
    }
    await rename(temp, final);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  fsyncDirectory(dir);
  await unlink(journal);
  fsyncDirectory(dir);
  return result;
}

/**
 * `tokenpak ledger compact`: folds whole journal months before `before` into
 * rollups (see rollup.ts), oldest first. Each month's rollup is written,
 * fsynced and read back — its totals must equal the month's — before the
 * month's file is removed; a crash in between leaves both, and the journal
 * file is what counts until a later run finishes. The daemon may run: it
 * only ever writes the current month, and its counters do not change.
 */
export async function compactJournal(dataDir: string, options: CompactOptions): Promise<CompactResult> {
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(options.before)) {
    throw new TokenpakError("invalid_argument", `--before must be a month YYYY-MM, got ${options.before}`);
  }
  const kept = earliestKept(options.policy, options.now);
  if (options.before > kept) {
    throw new TokenpakError(
      "invalid_argument",
      `--before ${options.before}: months from ${kept} on can still count in a budget; the latest --before now is ${kept}`,
    );
  }
  const dir = join(dataDir, "journal");
  const already = rollupMonths(dir);
  const months = journalFiles(dir)
    .map(fileMonth)
    .filter((m) => m < options.before);
  const done: CompactedMonth[] = [];
  for (const month of months) done.push(await compactMonth(dir, month, options));
  return {
    before: options.before,
    applied: options.apply,
    timezone: options.policy.timeZone,
    months: done,
    already: already.filter((m) => m < options.before),
  };
}
