import { type FSWatcher, unwatchFile, watch, watchFile } from "node:fs";
import type { Config } from "../config/types.generated.js";
import { TokenpakError } from "../errors.js";
import type { Prices } from "./cost.js";
import { type ModelPricing, type PricingConfig, resolveModel, resolvePricing } from "./resolve.js";
import { type LoadedTable, loadTable, STORE_FILE, storePath, tableInForce } from "./store.js";
import { oldestSource, type PriceProvider } from "./table.js";

/** What /healthz says about prices. */
export interface PricingStatus {
  /**
   * Where the prices in use came from: the source fetched longest ago among
   * the providers that price a configured model (over the whole table when
   * none does); null only for an empty table.
   */
  source: string | null;
  fetched_at: string | null;
  /**
   * Older than pricing.stale_after_hours while it prices a configured model:
   * a table nothing is priced from (a config of its own prices) is never stale.
   */
  stale: boolean;
  /** "store": synced into the data directory; "bundled": the snapshot shipped with tokenpak. */
  from: LoadedTable["from"];
  revision: number;
}

export function isStale(fetchedAt: string | null, now: number, staleAfterHours: number): boolean {
  if (fetchedAt === null) return true;
  return now - Date.parse(fetchedAt) > staleAfterHours * 3_600_000;
}

/** The providers whose table entries price some configured model. */
export function pricingProviders(resolved: Iterable<ModelPricing>): Set<PriceProvider> {
  const used = new Set<PriceProvider>();
  for (const p of resolved) if ("origin" in p && p.origin.kind === "table") used.add(p.origin.provider);
  return used;
}

/**
 * How old the prices in use are. Only the providers that price a configured
 * model count: a provider nothing is priced from (the bundled anthropic
 * snapshot under an openai-only config synced hourly) must not make the
 * table stale. With no configured model priced from the table it is never
 * stale, and the source shown is the table's oldest, for information. Pure.
 */
export function tableStatus(
  loaded: LoadedTable,
  resolved: Iterable<ModelPricing>,
  now: number,
  staleAfterHours: number,
): PricingStatus {
  const used = pricingProviders(resolved);
  const oldest = oldestSource(loaded.table, used.size > 0 ? used : undefined);
  const fetchedAt = oldest?.fetched_at ?? null;
  return {
    source: oldest?.source ?? null,
    fetched_at: fetchedAt,
    stale: used.size > 0 && isStale(fetchedAt, now, staleAfterHours),
    from: loaded.from,
    revision: loaded.table.revision,
  };
}

/** Prices by model name, as the proxy asks for them. */
export interface PriceSource {
  /** The prices of a model; throws `model_unpriced` (TokenpakError) for a model without one. */
  for(model: string): Prices;
}

const DEBOUNCE_MS = 100;

export interface PriceBookOptions {
  config: Readonly<PricingConfig & Pick<Config, "pricing">>;
  dataDir: string;
  /** Problems reading the store (kept the previous table): the daemon's stderr. */
  warn?: (message: string) => void;
}

/**
 * Every configured model's price, resolved once per table (pin_price, then
 * the table, then estimated_*, then pricing.unknown_model), so the request
 * path only looks a name up. `watch()` follows the store in the data
 * directory: a sync's atomic rename is picked up after a short debounce,
 * re-validated, and swapped in — the next request is priced by the new table
 * without a restart and without a file read per request.
 */
export class PriceBook implements PriceSource {
  private loaded: LoadedTable;
  private resolved: Map<string, ModelPricing>;
  private watcher: FSWatcher | undefined;
  private polling = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(book: PriceBook) => void>();
  private readonly warn: (message: string) => void;

  constructor(private options: PriceBookOptions) {
    this.warn = options.warn ?? (() => {});
    // As validate-config and pricing show resolve it: an unreadable store means the bundled snapshot.
    const { unreadable, ...loaded } = tableInForce(options.dataDir);
    if (unreadable !== undefined) this.warn(`pricing: ${unreadable}; using the bundled prices`);
    this.loaded = loaded;
    this.resolved = resolvePricing(options.config, this.loaded.table);
  }

  /** The table in the data directory (or the bundled one), or undefined when it cannot be used. */
  private read(instead: string): LoadedTable | undefined {
    try {
      return loadTable(this.options.dataDir);
    } catch (error) {
      const why = error instanceof TokenpakError ? error.message : String(error);
      this.warn(`pricing: ${why}; using ${instead}`);
      return undefined;
    }
  }

  for(model: string): Prices {
    const p = this.resolved.get(model) ?? resolveModel(model, this.options.config, this.loaded.table);
    if ("error" in p) throw p.error;
    return p.prices;
  }

  /** A configured model's price and where it comes from. */
  pricing(model: string): ModelPricing {
    return this.resolved.get(model) ?? resolveModel(model, this.options.config, this.loaded.table);
  }

  get table(): LoadedTable {
    return this.loaded;
  }

  /** The configured models priced from a provider whose source is older than pricing.stale_after_hours. */
  stalePriced(now: number): string[] {
    const hours = this.options.config.pricing.stale_after_hours;
    return [...this.resolved.values()]
      .filter(
        (p) =>
          "origin" in p &&
          p.origin.kind === "table" &&
          isStale(this.loaded.table.sources[p.origin.provider]?.fetched_at ?? null, now, hours),
      )
      .map((p) => p.model);
  }

  status(now: number): PricingStatus {
    return tableStatus(
      this.loaded,
      this.resolved.values(),
      now,
      this.options.config.pricing.stale_after_hours,
    );
  }

  /**
   * Prices a reloaded config's models (its estimated_*, pin_price,
   * unknown_model) from the table in force; the next request is priced so.
   * A request already reserved keeps the prices it was reserved at.
   */
  configure(config: PriceBookOptions["config"]): void {
    const resolved = resolvePricing(config, this.loaded.table);
    this.options = { ...this.options, config };
    this.resolved = resolved;
    for (const listener of this.listeners) listener(this);
  }

  /** Re-reads the store; swaps the prices in when it holds a valid table of another revision. */
  reload(): boolean {
    const next = this.read("the prices in force");
    if (!next) return false;
    const { from, table } = this.loaded;
    if (
      next.from === from &&
      next.table.revision === table.revision &&
      next.table.updated_at === table.updated_at
    )
      return false;
    const resolved = resolvePricing(this.options.config, next.table);
    this.loaded = next;
    this.resolved = resolved;
    for (const listener of this.listeners) listener(this);
    return true;
  }

  /** Called after each reload that changed the prices. */
  onReload(listener: (book: PriceBook) => void): void {
    this.listeners.add(listener);
  }

  /**
   * Follows the store: fs.watch on the data directory (the store is renamed
   * into place, so watching the file itself would lose it), or polling the
   * file where watching is not available.
   */
  watch(): void {
    if (this.watcher || this.polling) return;
    const schedule = () => {
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.reload();
      }, DEBOUNCE_MS);
      this.timer.unref();
    };
    try {
      this.watcher = watch(this.options.dataDir, { persistent: false }, (_event, file) => {
        if (file === null || file === STORE_FILE) schedule();
      });
      this.watcher.on("error", (error) => {
        this.warn(`pricing: cannot watch ${this.options.dataDir} (${String(error)}); polling instead`);
        this.watcher?.close();
        this.watcher = undefined;
        this.poll(schedule);
      });
    } catch {
      this.poll(schedule);
    }
  }

  private poll(schedule: () => void): void {
    this.polling = true;
    watchFile(storePath(this.options.dataDir), { persistent: false, interval: 1000 }, schedule);
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.polling) unwatchFile(storePath(this.options.dataDir));
    this.polling = false;
    if (this.timer) clearTimeout(this.timer);
    this.listeners.clear();
  }
}
