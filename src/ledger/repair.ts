import { closeSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { journalFiles, type LinePlace, parseEntry, scanLines } from "./journal.js";
import { acquireLock } from "./lock.js";
import { SnapshotStore, STATE_FILE } from "./snapshot.js";

/** A journal line replay cannot use. */
export interface BadLine {
  /** Relative to the data directory: "journal/2026-03.jsonl". */
  file: string;
  line: number;
  /** Byte offset of the line in its file. */
  offset: number;
  bytes: number;
  reason: "not a journal entry" | "incomplete last line";
  /** The line as read (invalid UTF-8 shows as U+FFFD). */
  text: string;
  /** A complete entry glued after a torn fragment on the same line (a write resumed after a failed one): kept. */
  kept?: { type: string; seq: number; text: string };
}

export interface RepairPlan {
  dataDir: string;
  files: number;
  entries: number;
  bad: BadLine[];
}

export interface RepairResult extends RepairPlan {
  applied: boolean;
  /** The *.corrupt files the bad lines were moved to (relative to the data directory). */
  movedTo: string[];
  /** Whether state.json was reset so the next start rebuilds it from the journal. */
  snapshotReset: boolean;
}

/** The last complete entry in a torn line, if one follows the fragment. */
function salvage(text: string): BadLine["kept"] {
  for (let at = text.indexOf('{"type":"', 1); at > 0; at = text.indexOf('{"type":"', at + 1)) {
    const entry = parseEntry(text.slice(at));
    if (entry) return { type: entry.type, seq: entry.seq, text: text.slice(at) };
  }
  return undefined;
}

function scanFile(
  dataDir: string,
  file: string,
  onGood: (text: string, place: LinePlace) => void,
  onBad: (bad: BadLine) => void,
): void {
  const shown = relative(dataDir, file);
  const fd = openSync(file, "r");
  try {
    const tail = scanLines(fd, (text, place) => {
      if (parseEntry(text)) return onGood(text, place);
      const kept = salvage(text);
      onBad({ file: shown, ...place, reason: "not a journal entry", text, ...(kept ? { kept } : {}) });
    });
    if (tail) onBad({ file: shown, ...tail, reason: "incomplete last line" });
  } finally {
    closeSync(fd);
  }
}

/** Every line of the journal that replay cannot use: read only, safe while the daemon runs. */
export function planRepair(dataDir: string): RepairPlan {
  const files = journalFiles(join(dataDir, "journal"));
  const bad: BadLine[] = [];
  let entries = 0;
  for (const file of files) {
    scanFile(
      dataDir,
      file,
      () => {
        entries++;
      },
      (b) => {
        bad.push(b);
        if (b.kept) entries++;
      },
    );
  }
  return { dataDir, files: files.length, entries, bad };
}

/** Writes `text` whole to `fd`. */
function writeAll(fd: number, text: string): void {
  let buffer = Buffer.from(text);
  while (buffer.length > 0) buffer = buffer.subarray(writeSync(fd, buffer));
}

/** The journal file again without its bad lines (salvaged entries in their place), replaced atomically. */
function rewrite(dataDir: string, file: string): void {
  const temp = `${file}.repair.tmp`;
  const out = openSync(temp, "w", 0o600);
  try {
    let chunk = "";
    const keep = (text: string) => {
      chunk += `${text}\n`;
      if (chunk.length > 1 << 20) {
        writeAll(out, chunk);
        chunk = "";
      }
    };
    scanFile(dataDir, file, keep, (b) => {
      if (b.kept) keep(b.kept.text);
    });
    writeAll(out, chunk);
    fsyncSync(out);
  } finally {
    closeSync(out);
  }
  renameSync(temp, file);
  const dir = openSync(dirname(file), "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/** Appends the record of what is dropped to `<file>.corrupt`, durably, before the journal is changed. */
function recordDropped(dataDir: string, file: string, bad: readonly BadLine[], at: string): string {
  const path = join(dataDir, `${file}.corrupt`);
  const fd = openSync(path, "a", 0o600);
  try {
    for (const b of bad) {
      const dropped = b.kept ? b.text.slice(0, b.text.length - b.kept.text.length) : b.text;
      const record = {
        repaired_at: at,
        file: b.file,
        line: b.line,
        offset: b.offset,
        bytes: b.bytes,
        reason: b.reason,
        dropped,
        ...(b.kept ? { kept: { type: b.kept.type, seq: b.kept.seq } } : {}),
      };
      writeAll(fd, `${JSON.stringify(record)}\n`);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return relative(dataDir, path);
}

/**
 * Finds the journal lines replay cannot use and, with `apply`, moves them
 * aside: each file's bad lines are recorded in `<file>.corrupt` (what was
 * dropped, where, and why), then the file is rewritten without them; a
 * complete entry glued after a torn fragment stays. state.json is reset
 * (its marks kept), so the next start rebuilds the counters from the
 * repaired journal. Applying takes the ledger lock: not while the daemon runs.
 */
export async function repairLedger(
  dataDir: string,
  options: { apply: boolean; now?: number },
): Promise<RepairResult> {
  if (!options.apply) return { ...planRepair(dataDir), applied: false, movedTo: [], snapshotReset: false };
  const lock = acquireLock(dataDir);
  try {
    const plan = planRepair(dataDir);
    if (plan.bad.length === 0) return { ...plan, applied: false, movedTo: [], snapshotReset: false };
    const at = new Date(options.now ?? Date.now()).toISOString();
    const movedTo: string[] = [];
    for (const file of new Set(plan.bad.map((b) => b.file))) {
      movedTo.push(
        recordDropped(
          dataDir,
          file,
          plan.bad.filter((b) => b.file === file),
          at,
        ),
      );
      rewrite(dataDir, join(dataDir, file));
    }
    const store = new SnapshotStore(join(dataDir, STATE_FILE));
    const { state } = await store.read();
    if (state) await store.write({ ...state, seq: 0, month: null, counters: {}, reservations: [] });
    return { ...plan, applied: true, movedTo, snapshotReset: state !== null };
  } finally {
    lock.release();
  }
}
