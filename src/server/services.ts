import { AlertMonitor } from "../alerts/monitor.js";
import { compilePolicy } from "../budget/policy.js";
import type { Config } from "../config/types.generated.js";
import { assertNoClashes, keyLimits } from "../keys/keys.js";
import { KeyStore } from "../keys/store.js";
import { KeyUsage, LAST_USED_MARK } from "../keys/usage.js";
import { type CloseReport, Ledger, type LedgerOptions, type OpenReport } from "../ledger/ledger.js";

/** The ledger, the alerts watching it and the key store: what the daemon owns, and what a command opens when no daemon runs. */
export interface LedgerServices {
  ledger: Ledger;
  alerts: AlertMonitor;
  recovery: OpenReport;
  keyStore: KeyStore;
  /** When each key was last used (kept in the ledger's snapshot). */
  usage: KeyUsage;
}

/**
 * Reads the key store, takes the data directory's lock (`ledger_locked` if
 * someone holds it), replays the journal, starts the alerts. Keys of the
 * config and of the store that clash (a name, a secret) are `config_invalid`.
 */
export async function openLedgerServices(options: {
  config: Readonly<Config>;
  dataDir: string;
  clock: () => number;
  warn: (message: string) => void;
  /** Ledger options beyond the config's (fault-injection tests: `journalIo`, `journalRetryMs`). */
  ledger?: Pick<LedgerOptions, "journalIo" | "journalRetryMs">;
}): Promise<LedgerServices> {
  const { config, dataDir, clock, warn } = options;
  const keyStore = await KeyStore.open(dataDir);
  assertNoClashes(config, keyStore.keys);
  const { ledger, report } = await Ledger.open({
    dir: dataDir,
    policy: compilePolicy(config, keyLimits(config, keyStore.keys)),
    fsync: config.storage.fsync,
    clock,
    warn,
    ...options.ledger,
  });
  try {
    const alerts = AlertMonitor.start({ config, dataDir, ledger, clock, warn });
    return { ledger, alerts, recovery: report, keyStore, usage: KeyUsage.from(ledger.mark(LAST_USED_MARK)) };
  } catch (error) {
    await ledger.close();
    throw error;
  }
}

/** Keeps the keys' last use with the ledger's snapshot, when it changed. */
export function saveKeyUsage(services: Pick<LedgerServices, "ledger" | "usage">): void {
  const mark = services.usage.takeMark();
  if (mark !== undefined) services.ledger.setMark(LAST_USED_MARK, mark);
}

/** Stops the alerts (their last marks go into the ledger's final snapshot), then the ledger. */
export async function closeLedgerServices(services: LedgerServices): Promise<CloseReport> {
  saveKeyUsage(services);
  await services.alerts.close();
  return services.ledger.close();
}
