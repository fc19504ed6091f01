import type { AlertMonitor } from "../alerts/monitor.js";
import type { Config } from "../config/types.generated.js";
import type { Ledger } from "../ledger/ledger.js";
import { PriceBook, type PricingStatus } from "../pricing/book.js";

/** The ledger mark naming the last staleness episode alerted: "<source>|<fetched_at>". */
export const STALE_MARK = "pricing.stale_alerted";
const CHECK_EVERY_MS = 60_000;

export interface PriceWatch {
  book: PriceBook;
  /** Set at start when prices in use come from a stale table: what the proxy says about it. */
  staleNotice: string | undefined;
  /** A reloaded config: its models' prices and its staleness threshold. */
  configure(config: Readonly<Config>): void;
  close(): void;
}

function notice(status: PricingStatus, hours: number, models: readonly string[]): string {
  const shown =
    models.length > 3 ? `${models.slice(0, 3).join(", ")} and ${models.length - 3} more` : models.join(", ");
  return `prices of ${shown} come from ${status.source ?? "an empty table"}, fetched ${status.fetched_at ?? "never"}: older than pricing.stale_after_hours (${hours} h); run tokenpak sync-pricing`;
}

/**
 * The daemon's prices: a PriceBook following the store, and a check (at
 * start, then every minute) that raises `pricing_stale` once per staleness
 * episode — an episode is one table fetch going stale, so a restart does not
 * alert again (the ledger keeps the mark) and the next sync starts afresh.
 * Only a table that prices a configured model can be stale in a way that
 * matters; a config priced entirely by estimated_* never alerts.
 */
export function watchPrices(options: {
  config: Readonly<Config>;
  dataDir: string;
  ledger: Ledger;
  alerts: AlertMonitor;
  clock: () => number;
  warn: (message: string) => void;
}): PriceWatch {
  const { config, ledger, alerts, clock } = options;
  let hours = config.pricing.stale_after_hours;
  const book = new PriceBook({ config, dataDir: options.dataDir, warn: options.warn });
  // The models whose own provider's prices are stale: not every table-priced one.
  const staleModels = (status: PricingStatus) => (status.stale ? book.stalePriced(clock()) : []);

  const check = () => {
    const status = book.status(clock());
    const models = staleModels(status);
    if (models.length === 0) return;
    const episode = `${status.source}|${status.fetched_at}`;
    if (ledger.mark(STALE_MARK) === episode) return;
    alerts.raise({ event: "pricing_stale", message: notice(status, hours, models) });
    ledger.setMark(STALE_MARK, episode);
  };

  const initial = book.status(clock());
  const models = staleModels(initial);
  const staleNotice = models.length > 0 ? notice(initial, hours, models) : undefined;
  check();
  book.onReload(check);
  book.watch();
  const timer = setInterval(check, CHECK_EVERY_MS);
  timer.unref();
  return {
    book,
    staleNotice,
    configure(next) {
      hours = next.pricing.stale_after_hours;
      book.configure(next);
    },
    close() {
      clearInterval(timer);
      book.close();
    },
  };
}
