import { closeSync, fstatSync, ftruncateSync, openSync, readdirSync, readSync } from "node:fs";
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

/**
 * Streams the complete, non-empty lines of an open file to `onLine`; returns
 * the bytes after the last newline (a line a crash cut short), if any.
 */
export function scanLines(
  fd: number,
  onLine: (text: string, place: LinePlace) => void,
): (LinePlace & { text: string }) | undefined {
  const buffer = Buffer.allocUnsafe(CHUNK);
  const decoder = new StringDecoder("utf8"); // a chunk may end inside a character
  let carry = "";
  let offset = 0; // bytes consumed into complete lines
  let line = 0;
  for (;;) {
    const n = readSync(fd, buffer, 0, CHUNK, null);
    if (n === 0) break;
    const text = carry + decoder.write(buffer.subarray(0, n));
    let start = 0;
    for (let nl = text.indexOf("\n", start); nl !== -1; nl = text.indexOf("\n", start)) {
      const content = text.slice(start, nl);
      line++;
      start = nl + 1;
      const bytes = content.length === 0 ? 0 : Buffer.byteLength(content);
      if (bytes > 0) onLine(content, { line, offset, bytes });
      offset += bytes + 1;
    }
    carry = text.slice(start);
  }
  carry += decoder.end();
  if (carry.length === 0) return undefined;
  return { text: carry, line: line + 1, offset, bytes: fstatSync(fd).size - offset };
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
  const files = journalFiles(dir).filter((f) => !options.fromMonth || f.slice(-13, -6) >= options.fromMonth);
  let entries = 0;
  let tornBytes = 0;
  let lastSeq = 0;
  for (const [fileIndex, file] of files.entries()) {
    const newest = fileIndex === files.length - 1;
    const fd = openSync(file, newest && options.repair ? "r+" : "r");
    try {
      const tail = scanLines(fd, (line, place) => {
        // Entries start {"type":"…","seq":N — skip those already in the snapshot without parsing them.
        if (options.afterSeq !== undefined) {
          const m = SEQ_PREFIX.exec(line);
          if (m && Number(m[1]) <= options.afterSeq) {
            lastSeq = Number(m[1]);
            return;
          }
        }
        const entry = parseEntry(line);
        if (entry === undefined) throw corrupt(file, place, "is not a journal entry");
        entries++;
        lastSeq = entry.seq;
        onEntry(entry);
      });
      if (tail !== undefined) {
        // No newline at the end: a torn write. Only the newest file may have one.
        if (!newest) throw corrupt(file, tail, "ends in an incomplete line");
        tornBytes = tail.bytes;
        if (options.repair) ftruncateSync(fd, tail.offset);
      }
    } finally {
      closeSync(fd);
    }
  }
  return { entries, tornBytes, lastSeq };
}
