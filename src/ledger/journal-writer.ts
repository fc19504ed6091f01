import * as fs from "node:fs";
import { join } from "node:path";
import { TokenpakError } from "../errors.js";
import type { JournalEntry } from "./journal.js";

export type FsyncPolicy = "always" | "batch";

/** The file calls the journal makes: `node:fs` unless a test injects a failing one. */
export type JournalIo = Pick<
  typeof fs,
  | "openSync"
  | "writeSync"
  | "fsyncSync"
  | "fdatasync"
  | "ftruncateSync"
  | "fstatSync"
  | "fchmodSync"
  | "closeSync"
>;

export interface JournalOptions {
  dir: string;
  fsync: FsyncPolicy;
  io?: JournalIo;
  /** Told once when writing starts to fail, and once when it works again. */
  onHealth?: (failure: Error | undefined) => void;
  /** Told of each batch of appends as it ends: written, or not (its appends rejected). */
  onBatch?: (written: boolean) => void;
  /** First wait before writing again after a failure; doubles up to `retryMaxMs`. */
  retryMs?: number;
  retryMaxMs?: number;
}

const BATCH_FSYNC_MS = 200;
const RETRY_MS = 100;
const RETRY_MAX_MS = 5000;

/** Lines of one month, newline-terminated, not yet in the file. */
interface Segment {
  month: string;
  text: string;
}

interface Batch {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** "2026-03" from an ISO timestamp: journals rotate by UTC month. */
function monthOf(ts: string): string {
  return ts.slice(0, 7);
}

function describe(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code ? `${e.code}: ${e.message.replace(/^\w+: /, "")}` : String(error);
}

/**
 * The error every append waiting on a failed write gets: a 503 for the
 * request behind it; at a start (`starting`), the reason it refuses to.
 */
export function storeUnavailable(cause: Error, starting = false): TokenpakError {
  const then = starting
    ? "it cannot start until it can: make room (or fix the disk) and start again"
    : "requests are refused until it can";
  return new TokenpakError(
    "store_unavailable",
    `the ledger cannot write its journal (${describe(cause)}); ${then}`,
  );
}

/**
 * The append-only journal: journal/YYYY-MM.jsonl, one JSON line per entry.
 * Appends are group-committed: lines queue in memory and one write() per
 * event-loop turn puts them in the file; `append` resolves only after that
 * (and after fsync with `always`), so whatever the caller acknowledges is in
 * the file — a kill -9 cannot lose it. `batch` fsyncs every 200 ms, which
 * survives a process crash but not a power cut.
 *
 * A write that fails (a full disk, an I/O error) never tears the file: it is
 * cut back to its last complete line at once. The appends of that batch, and
 * every one after it until writing works again, reject with
 * `store_unavailable`; their lines are kept, in order, and written by retries
 * with backoff — the ledger applied them, so the journal must get them too.
 */
export class Journal {
  readonly dir: string;
  private readonly io: JournalIo;
  private fd: number | undefined;
  private month: string | undefined;
  /** Bytes of the open file up to its last complete line: where a failed write is cut back to. */
  private size = 0;
  /** A failed write may have left part of a line that could not be cut off yet. */
  private mustTruncate = false;
  /** Queued lines of the current month (a string built by += is cheap in V8). */
  private pending = "";
  private pendingMonth = "";
  /** Earlier lines still to write: a month that ended while queued, or whatever a failure left. */
  private backlog: Segment[] = [];
  /** One promise per batch, shared by every entry in it: no allocation per append. */
  private batch: Batch | undefined;
  private scheduled = false;
  private dirty = false;
  private syncTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs: number;
  private failure: Error | undefined;

  constructor(private readonly options: JournalOptions) {
    this.dir = options.dir;
    this.io = options.io ?? fs;
    this.retryMs = options.retryMs ?? RETRY_MS;
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (options.fsync === "batch") {
      this.syncTimer = setInterval(() => this.syncSoon(), BATCH_FSYNC_MS);
      this.syncTimer.unref();
    }
  }

  /** Why writing fails, while it does. */
  get error(): Error | undefined {
    return this.failure;
  }

  /** Lines the ledger applied that are not in the file yet. */
  get unwritten(): number {
    let n = 0;
    for (const s of [...this.backlog, { text: this.pending }]) for (const c of s.text) if (c === "\n") n++;
    return n;
  }

  /** Queues a line; resolves once it is written, rejects with `store_unavailable` if that fails. */
  append(entry: JournalEntry): Promise<void> {
    this.queue(entry);
    if (!this.batch) {
      let resolve = () => {};
      let reject: (error: Error) => void = () => {};
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // Shared by the whole batch: a caller that does not wait must not make the rejection "unhandled".
      promise.catch(() => {});
      this.batch = { promise, resolve, reject };
    }
    return this.batch.promise;
  }

  /** Queues a line without waiting for it (it is written within this event-loop turn). */
  queue(entry: JournalEntry): void {
    const month = monthOf(entry.ts);
    if (month !== this.pendingMonth) {
      if (this.pending) this.toBacklog(this.pendingMonth, this.pending);
      this.pending = "";
      this.pendingMonth = month;
    }
    this.pending += `${JSON.stringify(entry)}\n`;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushSync());
    }
  }

  /** Writes everything queued, now; the waiting batch resolves, or rejects if the write fails. */
  flushSync(): void {
    this.scheduled = false;
    const batch = this.batch;
    this.batch = undefined;
    if (this.pending) {
      this.toBacklog(this.pendingMonth, this.pending);
      this.pending = "";
    }
    // While failing, only the retry timer writes: a batch queued meanwhile fails at once.
    if (this.failure === undefined) this.writeBacklog();
    if (!batch) return;
    if (this.failure) batch.reject(storeUnavailable(this.failure));
    else batch.resolve();
    this.options.onBatch?.(this.failure === undefined);
  }

  /**
   * Lines of one month wait as one segment, written in one piece or not at
   * all: the lines a failure left and those queued after it (the releases of
   * the reservations it refused) reach the file together. Written apart, a
   * disk with room for the first part only would keep a reservation that was
   * never forwarded without its release, and the next start would charge it.
   */
  private toBacklog(month: string, text: string): void {
    const last = this.backlog.at(-1);
    if (last !== undefined && last.month === month) last.text += text;
    else this.backlog.push({ month, text });
  }

  /** Writes the backlog in order; on failure keeps what is left and starts retrying. */
  private writeBacklog(): boolean {
    try {
      if (this.mustTruncate && this.fd !== undefined) {
        this.io.ftruncateSync(this.fd, this.size);
        this.mustTruncate = false;
      }
      while (this.backlog.length > 0) {
        const segment = this.backlog[0] as Segment;
        this.writeText(segment.month, segment.text);
        this.backlog.shift();
      }
      if (this.options.fsync === "always" && this.fd !== undefined) this.io.fsyncSync(this.fd);
      else this.dirty = true;
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
      return false;
    }
    if (this.failure !== undefined) {
      this.failure = undefined;
      this.retryMs = this.options.retryMs ?? RETRY_MS;
      this.options.onHealth?.(undefined);
    }
    return true;
  }

  private fail(error: Error): void {
    const first = this.failure === undefined;
    this.failure = error;
    if (first) this.options.onHealth?.(error);
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.writeBacklog()) return;
      this.retryMs = Math.min(this.retryMs * 2, this.options.retryMaxMs ?? RETRY_MAX_MS);
    }, this.retryMs);
    this.retryTimer.unref();
  }

  private open(month: string): number {
    if (this.fd !== undefined) {
      this.io.fsyncSync(this.fd);
      this.io.closeSync(this.fd);
      this.fd = undefined;
    }
    const fd = this.io.openSync(join(this.dir, `${month}.jsonl`), "a", 0o600);
    try {
      const stat = this.io.fstatSync(fd);
      // Spend, users and models are nobody else's business, also in files an older version created.
      if ((stat.mode & 0o077) !== 0) this.io.fchmodSync(fd, 0o600);
      this.size = stat.size;
    } catch (error) {
      this.io.closeSync(fd);
      throw error;
    }
    this.fd = fd;
    this.month = month;
    return fd;
  }

  private writeText(month: string, text: string): void {
    const fd = month === this.month && this.fd !== undefined ? this.fd : this.open(month);
    let buffer = Buffer.from(text);
    const total = buffer.length;
    try {
      while (buffer.length > 0) buffer = buffer.subarray(this.io.writeSync(fd, buffer));
    } catch (error) {
      // Never leave part of a line behind: the next write would be glued to it.
      if (buffer.length < total) {
        try {
          this.io.ftruncateSync(fd, this.size);
        } catch {
          this.mustTruncate = true;
        }
      }
      throw error;
    }
    this.size += total;
  }

  private syncSoon(): void {
    if (!this.dirty || this.fd === undefined || this.failure !== undefined) return;
    this.dirty = false;
    this.io.fdatasync(this.fd, () => {});
  }

  private stopTimers(): void {
    if (this.syncTimer) clearInterval(this.syncTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private closeFd(): void {
    if (this.fd === undefined) return;
    try {
      this.io.closeSync(this.fd);
    } catch {
      // closing is all that is left to do
    }
    this.fd = undefined;
  }

  /** Drops what is queued and closes, as a crash would (tests; a start-up that must not write). */
  abandon(): void {
    this.pending = "";
    this.backlog = [];
    this.batch = undefined;
    this.stopTimers();
    this.closeFd();
  }

  /** Writes what is queued, fsyncs and closes; throws `store_unavailable` naming what could not be written. */
  close(): void {
    this.flushSync();
    if (this.failure !== undefined) this.writeBacklog(); // one last try
    this.stopTimers();
    const failure = this.failure;
    const lost = this.unwritten;
    if (failure === undefined && this.fd !== undefined) this.io.fsyncSync(this.fd);
    this.closeFd();
    if (failure !== undefined) {
      this.backlog = [];
      throw new TokenpakError(
        "store_unavailable",
        `${lost} journal entr${lost === 1 ? "y" : "ies"} could not be written (${describe(failure)}); requests they belong to are charged at their reservation at the next start`,
      );
    }
  }
}
