import { closeSync, fstatSync, ftruncateSync, openSync, readdirSync, readSync } from "node:fs";
import { open } from "node:fs/promises";
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
    } & EntryIdentity)
  | {
      /** A budget override: `add` µ¢ more on the scope's dollar limit(s) until `until` (see ledger/overrides.ts). */
      type: "override";
      seq: number;
      ts: string;
      id: string;
      scope: string;
      /** "daily", "monthly", a rolling label; absent: every dollar limit of the scope. */
      window?: string;
      add: number;
      until: string;
      reason: string;
      /** The OS user, or the admin token's label. */
      by: string;
    }
  | { type: "override_cancel"; seq: number; ts: string; id: string; by: string };

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

const ENTRY_TYPES = new Set(["reserve", "settle", "release", "adjust", "override", "override_cancel"]);

/** A line as a journal entry, or undefined when it is none (not JSON, or not an entry's shape). */
export function parseEntry(line: string): JournalEntry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== "object") return undefined;
  const e = value as Record<string, unknown>;
  const ok =
    typeof e.type === "string" &&
    ENTRY_TYPES.has(e.type) &&
    Number.isSafeInteger(e.seq) &&
    typeof e.ts === "string" &&
    !Number.isNaN(Date.parse(e.ts));
  return ok ? (value as JournalEntry) : undefined;
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

/** Where a line lies in its file. */
export interface LinePlace {
  /** 1-based. */
  line: number;
  /** Byte offset of its first byte. */
  offset: number;
  /** Its length in bytes, without the newline. */
  bytes: number;
}

const CHUNK = 1 << 20;
/** Smaller reads for the async reader: a daemon serving requests gets the event loop back every few ms. */
const ASYNC_CHUNK = 1 << 18;

type LineTail = (LinePlace & { text: string }) | undefined;

/** Cuts decoded text into complete, non-empty lines, keeping count of lines and bytes. */
class LineSplitter {
  private readonly decoder = new StringDecoder("utf8"); // a chunk may end inside a character
  private carry = "";
  private offset = 0; // bytes consumed into complete lines
  private line = 0;

  constructor(private readonly onLine: (text: string, place: LinePlace) => void) {}

  push(bytes: Buffer): void {
    const text = this.carry + this.decoder.write(bytes);
    let start = 0;
    for (let nl = text.indexOf("\n", start); nl !== -1; nl = text.indexOf("\n", start)) {
      const content = text.slice(start, nl);
      this.line++;
      start = nl + 1;
      const n = content.length === 0 ? 0 : Buffer.byteLength(content);
      if (n > 0) this.onLine(content, { line: this.line, offset: this.offset, bytes: n });
      this.offset += n + 1;
    }
    this.carry = text.slice(start);
  }

  /** The bytes after the last newline (a line a crash cut short), if any; `size` is the file's. */
  end(size: () => number): LineTail {
    this.carry += this.decoder.end();
    if (this.carry.length === 0) return undefined;
    return { text: this.carry, line: this.line + 1, offset: this.offset, bytes: size() - this.offset };
  }
}

/**
 * Streams the complete, non-empty lines of an open file to `onLine`; returns
 * the bytes after the last newline (a line a crash cut short), if any.
 */
export function scanLines(fd: number, onLine: (text: string, place: LinePlace) => void): LineTail {
  const buffer = Buffer.allocUnsafe(CHUNK);
  const lines = new LineSplitter(onLine);
  for (let n = readSync(fd, buffer, 0, CHUNK, null); n > 0; n = readSync(fd, buffer, 0, CHUNK, null))
    lines.push(buffer.subarray(0, n));
  return lines.end(() => fstatSync(fd).size);
}

/** scanLines for a file read without blocking: the event loop runs between chunks. */
export async function scanLinesAsync(
  path: string,
  onLine: (text: string, place: LinePlace) => void,
): Promise<LineTail> {
  const file = await open(path, "r");
  try {
    const buffer = Buffer.allocUnsafe(ASYNC_CHUNK);
    const lines = new LineSplitter(onLine);
    for (;;) {
      const { bytesRead } = await file.read(buffer, 0, ASYNC_CHUNK, null);
      if (bytesRead === 0) break;
      lines.push(buffer.subarray(0, bytesRead));
    }
    const { size } = await file.stat();
    return lines.end(() => size);
  } finally {
    await file.close();
  }
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

const SEQ_PREFIX = /^\{"type":"\w+","seq":(\d+),/;

function corrupt(file: string, place: { line: number }, what: string): TokenpakError {
  return new TokenpakError(
    "ledger_corrupt",
    `journal ${file}:${place.line} ${what}; \`tokenpak ledger repair\` shows it and can move it aside`,
    { file, line: place.line },
  );
}

/** The month of a journal file's path ("…/2026-03.jsonl" → "2026-03"). */
export function fileMonth(file: string): string {
  return file.slice(-13, -6);
}

/** The line handler both readers use: skips what the snapshot has, parses, and refuses a bad line. */
function entryLines(
  file: string,
  result: ReadResult,
  onEntry: (e: JournalEntry) => void,
  afterSeq: number | undefined,
  only: string | undefined,
): (line: string, place: LinePlace) => void {
  return (line, place) => {
    // Entries start {"type":"…","seq":N — lines can be skipped by that prefix without parsing them.
    if (only !== undefined && !line.startsWith(only)) return;
    if (afterSeq !== undefined) {
      const m = SEQ_PREFIX.exec(line);
      if (m && Number(m[1]) <= afterSeq) {
        result.lastSeq = Number(m[1]);
        return;
      }
    }
    const entry = parseEntry(line);
    if (entry === undefined) throw corrupt(file, place, "is not a journal entry");
    result.entries++;
    result.lastSeq = entry.seq;
    onEntry(entry);
  };
}

/**
 * Streams every entry of the journal, in order, to `onEntry`. A line that does
 * not parse is tolerated only at the very end of the newest file — the mark of
 * a crash mid-write; anywhere else the journal is corrupt and we stop, naming
 * the file and line.
 */
export function readJournal(
  dir: string,
  onEntry: (e: JournalEntry) => void,
  options: ReadOptions = {},
): ReadResult {
  const files = journalFiles(dir).filter((f) => !options.fromMonth || fileMonth(f) >= options.fromMonth);
  const result: ReadResult = { entries: 0, tornBytes: 0, lastSeq: 0 };
  for (const [fileIndex, file] of files.entries()) {
    const newest = fileIndex === files.length - 1;
    const fd = openSync(file, newest && options.repair ? "r+" : "r");
    try {
      const tail = scanLines(fd, entryLines(file, result, onEntry, options.afterSeq, undefined));
      if (tail !== undefined) {
        // No newline at the end: a torn write. Only the newest file may have one.
        if (!newest) throw corrupt(file, tail, "ends in an incomplete line");
        result.tornBytes = tail.bytes;
        if (options.repair) ftruncateSync(fd, tail.offset);
      }
    } finally {
      closeSync(fd);
    }
  }
  return result;
}

/** How much of a month the async reader reads: every entry, only the adjustments, or nothing. */
export type MonthPart = "all" | "adjust" | "none";

/**
 * readJournal without blocking the event loop (reports, compaction; also
 * inside the daemon), and without repairing: a torn last line of the newest
 * file is skipped. `part` says what to read of each month's file.
 */
export async function readJournalAsync(
  dir: string,
  onEntry: (e: JournalEntry) => void,
  part: (month: string) => MonthPart = () => "all",
): Promise<ReadResult> {
  const files = journalFiles(dir);
  const result: ReadResult = { entries: 0, tornBytes: 0, lastSeq: 0 };
  for (const [fileIndex, file] of files.entries()) {
    const which = part(fileMonth(file));
    if (which === "none") continue;
    const only = which === "adjust" ? '{"type":"adjust",' : undefined;
    const tail = await scanLinesAsync(file, entryLines(file, result, onEntry, undefined, only));
    if (tail === undefined) continue;
    if (fileIndex !== files.length - 1) throw corrupt(file, tail, "ends in an incomplete line");
    result.tornBytes = tail.bytes;
  }
  return result;
}
