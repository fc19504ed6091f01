import {
  closeSync,
  fdatasync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { StringDecoder } from "node:string_decoder";
import type { Amounts } from "../budget/decide.js";
import { TokenpakError } from "../errors.js";
import type { Usage } from "../pricing/usage.js";

/** Who spent: the identity fields every entry carries (team as resolved at the time). */
export interface EntryIdentity {
  key?: string;
  user?: string;
  project?: string;
  team?: string;
  run?: string;
}

/** Money fields (`cost`, `reserved.micros`) are integer micro-cents (1 cent = 1,000,000). */
export type JournalEntry =
  | ({
      type: "reserve";
      seq: number;
      ts: string;
      request_id: string;
      provider: string;
      model: string;
      reserved: Amounts;
      expires_at: string;
    } & EntryIdentity)
  | ({
      type: "settle";
      seq: number;
      ts: string;
      request_id: string;
      provider: string;
      model: string;
      usage: Usage;
      cost: number;
      tokens: number;
      reserved: number;
      /**
       * ok; upstream_error (the provider failed; charged for what it reported or generated);
       * upstream_timeout / upstream_failed (it had the request, its answer never came: charged at
       * the reservation); aborted (the client left mid-stream: charged for what was generated);
       * usage_invalid (the provider's usage could not be trusted: charged at the reservation);
       * recovered (in flight at a crash: charged at its reservation).
       */
      status: string;
      /** Why it was charged as it was, when that is not the provider's reported usage. */
      note?: string;
      /** Built-in tool calls (Responses API) in `cost` besides the tokens, by kind. */
      tool_calls?: Record<string, number>;
      /** When the reservation was booked: spend counts in the windows of that moment, so a request
       * that starts before midnight and ends after it cannot slip past both days' caps. */
      reserved_at?: string;
      fallback_from?: string;
      /** Soft mode: the scopes this request ran over. */
      overrun?: string[];
    } & EntryIdentity)
  | { type: "release"; seq: number; ts: string; request_id: string; reason: string }
  | ({
      type: "adjust";
      seq: number;
      ts: string;
      model?: string;
      provider?: string;
      /** Signed µ¢: positive adds spend, negative corrects an over-count. */
      cost: number;
      tokens: number;
      reason: string;
      source?: string;
      /** When it counts, if not `ts`: a correction to an earlier day counts in that day's windows. */
      at?: string;
      reconcile?: ReconcileRef;
    } & EntryIdentity);

/** What a reconcile-spend correction corrected: one line of its diff (money in µ¢). */
export interface ReconcileRef {
  /** The UTC day. */
  day: string;
  /** The model as billed, without its date suffix; "" when the line is the whole day. */
  model: string;
  /** The whole line's delta in this run (the sum of its parts, of which this entry is one). */
  delta: number;
  provider_cost: number;
  /** The ledger's figure for the line before this run (metered spend + earlier corrections). */
  ledger_cost: number;
}

export type FsyncPolicy = "always" | "batch";

const BATCH_FSYNC_MS = 200;

/** "2026-03" from an ISO timestamp: journals rotate by UTC month. */
function monthOf(ts: string): string {
  return ts.slice(0, 7);
}

/**
 * The append-only journal: journal/YYYY-MM.jsonl, one JSON line per entry.
 * Appends are group-committed: lines queue in memory and one write() per
 * event-loop turn puts them in the file; `append` resolves only after that
 * (and after fsync with `always`), so whatever the caller acknowledges is in
 * the file — a kill -9 cannot lose it. `batch` fsyncs every 200 ms, which
 * survives a process crash but not a power cut.
 */
export class Journal {
  private fd: number | undefined;
  private month: string | undefined;
  /** Queued lines, newline-terminated, all of one month (a string built by += is cheap in V8). */
  private pending = "";
  private pendingMonth = "";
  /** One promise per batch, shared by every entry in it: no allocation per append. */
  private batch: { promise: Promise<void>; resolve: () => void } | undefined;
  private scheduled = false;
  private dirty = false;
  private syncTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly dir: string,
    private readonly fsync: FsyncPolicy,
  ) {
    mkdirSync(dir, { recursive: true });
    if (fsync === "batch") {
      this.syncTimer = setInterval(() => this.syncSoon(), BATCH_FSYNC_MS);
      this.syncTimer.unref();
    }
  }

  /** Queues a line; resolves once it is written. */
  append(entry: JournalEntry): Promise<void> {
    this.queue(entry);
    if (!this.batch) {
      let resolve = () => {};
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.batch = { promise, resolve };
    }
    return this.batch.promise;
  }

  /** Queues a line without waiting for it (it is written within this event-loop turn). */
  queue(entry: JournalEntry): void {
    const month = monthOf(entry.ts);
    if (month !== this.pendingMonth) {
      if (this.pending) this.writeText(this.pendingMonth, this.pending);
      this.pending = "";
      this.pendingMonth = month;
    }
    this.pending += `${JSON.stringify(entry)}\n`;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushSync());
    }
  }

  /** Writes everything queued, now. */
  flushSync(): void {
    this.scheduled = false;
    if (this.pending) {
      this.writeText(this.pendingMonth, this.pending);
      this.pending = "";
      if (this.fsync === "always" && this.fd !== undefined) fsyncSync(this.fd);
      else this.dirty = true;
    }
    const batch = this.batch;
    this.batch = undefined;
    batch?.resolve();
  }

  private writeText(month: string, text: string): void {
    if (month !== this.month || this.fd === undefined) {
      if (this.fd !== undefined) {
        fsyncSync(this.fd);
        closeSync(this.fd);
      }
      this.fd = openSync(join(this.dir, `${month}.jsonl`), "a");
      this.month = month;
    }
    let buffer = Buffer.from(text);
    while (buffer.length > 0) {
      const written = writeSync(this.fd, buffer);
      buffer = buffer.subarray(written);
    }
  }

  private syncSoon(): void {
    if (!this.dirty || this.fd === undefined) return;
    this.dirty = false;
    fdatasync(this.fd, () => {});
  }

  /** Drops what is queued and closes, as a crash would (tests). */
  abandon(): void {
    this.pending = "";
    this.batch = undefined;
    if (this.syncTimer) clearInterval(this.syncTimer);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  close(): void {
    this.flushSync();
    if (this.syncTimer) clearInterval(this.syncTimer);
    if (this.fd !== undefined) {
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = undefined;
    }
  }
}

/** Journal files in order, oldest first. */
export function journalFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^\d{4}-\d{2}\.jsonl$/.test(n))
    .sort()
    .map((n) => join(dir, n));
}

export interface ReadOptions {
  /** Only files for this month or later ("2026-03"). */
  fromMonth?: string;
  /** Cut a torn last line off the newest file (a crash mid-write), instead of just skipping it. Needs the lock. */
  repair?: boolean;
  /** Skip entries up to this sequence number (already in the snapshot). */
  afterSeq?: number;
}

export interface ReadResult {
  entries: number;
  /** Bytes of a torn last line that were skipped (and cut off, with `repair`). */
  tornBytes: number;
  lastSeq: number;
}

const CHUNK = 1 << 20;
const SEQ_PREFIX = /^\{"type":"\w+","seq":(\d+),/;

/**
 * Streams every entry of the journal, in order, to `onEntry`. A line that does
 * not parse is tolerated only at the very end of the newest file — the mark of
 * a crash mid-write; anywhere else the journal is corrupt and we stop.
 */
export function readJournal(
  dir: string,
  onEntry: (e: JournalEntry) => void,
  options: ReadOptions = {},
): ReadResult {
  const files = journalFiles(dir).filter((f) => !options.fromMonth || f.slice(-13, -6) >= options.fromMonth);
  let entries = 0;
  let tornBytes = 0;
  let lastSeq = 0;
  for (const [fileIndex, file] of files.entries()) {
    const newest = fileIndex === files.length - 1;
    const fd = openSync(file, newest && options.repair ? "r+" : "r");
    try {
      const buffer = Buffer.allocUnsafe(CHUNK);
      const decoder = new StringDecoder("utf8"); // a chunk may end inside a character
      let carry = "";
      let offset = 0; // bytes consumed into complete lines
      let lineNo = 0;
      for (;;) {
        const n = readSync(fd, buffer, 0, CHUNK, null);
        if (n === 0) break;
        const text = carry + decoder.write(buffer.subarray(0, n));
        let start = 0;
        for (let nl = text.indexOf("\n", start); nl !== -1; nl = text.indexOf("\n", start)) {
          const line = text.slice(start, nl);
          lineNo++;
          start = nl + 1;
          if (line.length === 0) {
            offset += 1;
            continue;
          }
          offset += Buffer.byteLength(line) + 1;
          // Entries start {"type":"…","seq":N — skip those already in the snapshot without parsing them.
          if (options.afterSeq !== undefined) {
            const m = SEQ_PREFIX.exec(line);
            if (m && Number(m[1]) <= options.afterSeq) {
              lastSeq = Number(m[1]);
              continue;
            }
          }
          let entry: JournalEntry;
          try {
            entry = JSON.parse(line) as JournalEntry;
          } catch {
            throw new TokenpakError("ledger_corrupt", `journal ${file}:${lineNo} is not valid JSON`, {
              file,
              line: lineNo,
            });
          }
          entries++;
          lastSeq = entry.seq;
          onEntry(entry);
        }
        carry = text.slice(start);
      }
      if (carry.length > 0) {
        // No newline at the end: a torn write. Only the newest file may have one.
        if (!newest) {
          throw new TokenpakError("ledger_corrupt", `journal ${file} ends in an incomplete line`, { file });
        }
        tornBytes = fstatSync(fd).size - offset;
        if (options.repair) ftruncateSync(fd, offset);
      }
    } finally {
      closeSync(fd);
    }
  }
  return { entries, tornBytes, lastSeq };
}
