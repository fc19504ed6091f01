import type { Config } from "../config/types.generated.js";
import { TokenpakError } from "../errors.js";
import { type DiffOptions, diffTables, type PriceDiff } from "./diff.js";
import { fetchDocument } from "./fetch.js";
import { type FormatOption, parseSource } from "./parse.js";
import type { PricingConfig } from "./resolve.js";
import { bundledTable, type LoadedTable, loadTable, storePath, withStoreLock, writeStore } from "./store.js";
import {
  type PriceEntries,
  type PriceProvider,
  type PriceTable,
  type SourceFormat,
  TABLE_VERSION,
} from "./table.js";

export interface SyncOptions extends DiffOptions {
  config: PricingConfig & Pick<Config, "pricing">;
  dataDir: string;
  /** Relative file sources are relative to this (the config file's directory). */
  baseDir: string;
  providers: readonly PriceProvider[];
  /** Read every provider from here instead of pricing.sources. */
  source?: string | undefined;
  format: FormatOption;
  dryRun: boolean;
  clock?: () => number;
}

/** One document read for the sync. */
export interface SyncedSource {
  providers: PriceProvider[];
  source: string;
  format: SourceFormat;
  sha256: string;
  /** Models of those providers taken from it. */
  models: number;
  /** Models of those providers it lists without a usable per-token price. */
  skipped: number;
}

export interface SyncResult {
  sources: SyncedSource[];
  before: { from: LoadedTable["from"]; revision: number };
  diff: PriceDiff;
  /** Whether the store was replaced: not on --dry-run, not when a rule refused. */
  written: boolean;
  dry_run: boolean;
  /** The revision written (or that would have been). */
  revision: number;
  path: string;
  /** Something about the old store worth knowing (it was unreadable and is being replaced). */
  notes: string[];
}

interface Read {
  synced: SyncedSource;
  entries: PriceEntries;
  fetchedAt: string;
}

async function readSource(source: string, providers: PriceProvider[], options: SyncOptions): Promise<Read> {
  const doc = await fetchDocument(source, {
    timeoutMs: options.config.pricing.fetch_timeout_ms,
    baseDir: options.baseDir,
  });
  const fetchedAt = new Date((options.clock ?? Date.now)()).toISOString();
  let parsed: ReturnType<typeof parseSource>;
  try {
    parsed = parseSource(doc.text, options.format, providers);
  } catch (error) {
    if (error instanceof TokenpakError) throw new TokenpakError(error.code, `${source} is ${error.message}`);
    throw error;
  }
  for (const p of providers) {
    if (!Object.values(parsed.entries).some((e) => e.provider === p))
      throw new TokenpakError("pricing_invalid", `${source} has no ${p} models with per-token prices`);
  }
  return {
    synced: {
      providers,
      source,
      format: parsed.format,
      sha256: doc.sha256,
      models: Object.keys(parsed.entries).length,
      skipped: parsed.skipped.length,
    },
    entries: parsed.entries,
    fetchedAt,
  };
}

/** The table with every entry of the synced providers replaced by what was read. */
function merged(
  before: PriceTable,
  reads: Read[],
  providers: readonly PriceProvider[],
  now: string,
): PriceTable {
  const entries: PriceEntries = {};
  for (const [key, entry] of Object.entries(before.entries))
    if (!providers.includes(entry.provider)) entries[key] = entry;
  const sources = { ...before.sources };
  for (const read of reads) {
    Object.assign(entries, read.entries);
    for (const p of read.synced.providers) {
      sources[p] = {
        source: read.synced.source,
        format: read.synced.format,
        fetched_at: read.fetchedAt,
        sha256: read.synced.sha256,
      };
    }
  }
  return { version: TABLE_VERSION, revision: before.revision + 1, updated_at: now, sources, entries };
}

/**
 * Fetches the providers' prices, compares them with the table in force and,
 * unless a safety rule refuses or it is a dry run, replaces the store.
 * Downloads happen before the store lock is taken; the read of the old table
 * and the write of the new one happen under it. Any failure — fetch, parse,
 * refusal — leaves the store as it was, byte for byte.
 */
export async function syncPricing(options: SyncOptions): Promise<SyncResult> {
  const bySource = new Map<string, PriceProvider[]>();
  for (const p of options.providers) {
    const source = options.source ?? options.config.pricing.sources[p];
    bySource.set(source, [...(bySource.get(source) ?? []), p]);
  }
  const reads = await Promise.all([...bySource].map(([source, ps]) => readSource(source, ps, options)));
  const now = new Date((options.clock ?? Date.now)()).toISOString();
  const path = storePath(options.dataDir);

  const step = (): SyncResult => {
    const notes: string[] = [];
    let loaded: LoadedTable;
    try {
      loaded = loadTable(options.dataDir);
    } catch (error) {
      // An unreadable store must not block the sync that replaces it.
      if (!(error instanceof TokenpakError) || error.code !== "pricing_invalid") throw error;
      notes.push(`${error.message}; replacing it`);
      loaded = { table: bundledTable(), from: "bundled" };
    }
    const after = merged(loaded.table, reads, options.providers, now);
    const diff = diffTables(options.config, loaded.table, after, options.providers, options);
    const written = !options.dryRun && diff.refusals.length === 0;
    if (written) writeStore(options.dataDir, after);
    return {
      sources: reads.map((r) => r.synced),
      before: { from: loaded.from, revision: loaded.table.revision },
      diff,
      written,
      dry_run: options.dryRun,
      revision: after.revision,
      path,
      notes,
    };
  };
  // A dry run writes nothing, not even the lock file.
  return options.dryRun ? step() : withStoreLock(options.dataDir, step);
}
