import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { TokenpakError } from "../errors.js";
import { acquireLock, type LockHandle } from "../ledger/lock.js";
import { notJsonWhere } from "./parse.js";
import type { PriceTable } from "./table.js";

/** The synced price table in the data directory. */
export const STORE_FILE = "pricing.json";
const LOCK_FILE = "pricing.lock";

const schemaUrl = new URL("../../schemas/pricing-table.schema.json", import.meta.url);
const snapshotUrl = new URL("../../data/pricing-snapshot.json", import.meta.url);

let validator: ValidateFunction | undefined;

/** A price table from its text; throws `pricing_invalid` naming `what` when it is not one. */
export function parseTable(text: string, what: string): PriceTable {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new TokenpakError("pricing_invalid", `${what} is not valid JSON (${notJsonWhere(text, error)})`);
  }
  validator ??= new Ajv2020({ allErrors: false, strict: true }).compile(
    JSON.parse(readFileSync(schemaUrl, "utf8")),
  );
  if (!validator(json)) {
    const e = validator.errors?.[0];
    throw new TokenpakError(
      "pricing_invalid",
      `${what} is not a tokenpak price table: ${e ? `${e.instancePath || "(root)"} ${e.message}` : "invalid"}`,
    );
  }
  return json as PriceTable;
}

export function storePath(dataDir: string): string {
  return join(dataDir, STORE_FILE);
}

/** The synced table, or undefined when there is none yet. */
export function readStore(dataDir: string): PriceTable | undefined {
  const path = storePath(dataDir);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    throw new TokenpakError("io_error", `cannot read ${path}: ${code ?? String(error)}`);
  }
  return parseTable(text, path);
}

let snapshot: PriceTable | undefined;

/** The openai and anthropic prices shipped with tokenpak (scripts/build-pricing-snapshot.ts). */
export function bundledTable(): PriceTable {
  snapshot ??= parseTable(readFileSync(snapshotUrl, "utf8"), "the bundled price snapshot");
  return snapshot;
}

export interface LoadedTable {
  table: PriceTable;
  /** "store": <data-dir>/pricing.json; "bundled": nothing synced yet. */
  from: "store" | "bundled";
}

/** The table prices come from: the synced store, else the bundled snapshot. */
export function loadTable(dataDir: string): LoadedTable {
  const stored = readStore(dataDir);
  return stored ? { table: stored, from: "store" } : { table: bundledTable(), from: "bundled" };
}

export interface TableInForce extends LoadedTable {
  /** Why the store in the data directory cannot be used; the bundled snapshot is in force instead. */
  unreadable?: string;
}

/**
 * The table requests are priced from: the store, or — when there is none, or
 * it cannot be read or does not validate — the bundled snapshot. The daemon
 * starts on this, and validate-config and pricing show report it, so that
 * what they say is what the proxy charges.
 */
export function tableInForce(dataDir: string): TableInForce {
  try {
    return loadTable(dataDir);
  } catch (error) {
    const why = error instanceof TokenpakError ? error.message : String(error);
    return { table: bundledTable(), from: "bundled", unreadable: why };
  }
}

/** The table as written: one entry per line, so that a diff of two revisions reads well. */
export function tableText(table: PriceTable): string {
  const { entries, ...head } = table;
  const lines = Object.keys(entries)
    .sort()
    .map((key) => `    ${JSON.stringify(key)}: ${JSON.stringify(entries[key])}`);
  const top = JSON.stringify(head, null, 2).slice(0, -2);
  return `${top},\n  "entries": {\n${lines.join(",\n")}\n  }\n}\n`;
}

/**
 * Replaces the store atomically: a temp file written and fsynced, renamed
 * over the old one, the directory fsynced. A reader (the daemon) sees the
 * old table or the new one, never a part; a crash leaves one of the two.
 */
export function writeStore(dataDir: string, table: PriceTable): void {
  mkdirSync(dataDir, { recursive: true });
  const path = storePath(dataDir);
  const temp = join(dataDir, `.${STORE_FILE}.${process.pid}.tmp`);
  try {
    const fd = openSync(temp, "w", 0o644);
    try {
      writeSync(fd, tableText(table));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    const dir = openSync(dataDir, "r");
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // never created, or already renamed
    }
    const code = (error as NodeJS.ErrnoException).code;
    throw new TokenpakError("io_error", `cannot write ${path}: ${code ?? String(error)}`);
  }
}

/**
 * Runs `fn` holding `<data-dir>/pricing.lock`, so that two syncs cannot
 * interleave their read of the old table and their write of the new one.
 * The lock is the ledger's (`acquireLock`): created whole by a link, so an
 * empty or garbled lock file is never a live holder mid-write and is taken
 * over at once, as is one left by a dead process — by exactly one of any
 * number of syncs trying. It is held for that short step only (never over a
 * download): a second sync waits up to `waitMs` for it.
 */
export async function withStoreLock<T>(dataDir: string, fn: () => T, waitMs = 5_000): Promise<T> {
  mkdirSync(dataDir, { recursive: true });
  const deadline = Date.now() + waitMs;
  for (;;) {
    let lock: LockHandle;
    try {
      lock = acquireLock(dataDir, process.pid, LOCK_FILE);
    } catch (error) {
      if (!(error instanceof TokenpakError) || error.code !== "ledger_locked") throw error;
      if (Date.now() >= deadline) {
        const pid = error.details.pid;
        throw new TokenpakError(
          "pricing_locked",
          `another sync-pricing (pid ${typeof pid === "number" && pid !== process.pid ? pid : "?"}) holds ${join(dataDir, LOCK_FILE)}; try again`,
        );
      }
      await sleep(50);
      continue;
    }
    try {
      return fn();
    } finally {
      lock.release();
    }
  }
}
