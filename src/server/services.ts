import { AlertMonitor } from "../alerts/monitor.js";
import { compilePolicy } from "../budget/policy.js";
import type { Config } from "../config/types.generated.js";
import { type CloseReport, Ledger, type LedgerOptions, type OpenReport } from "../ledger/ledger.js";

/** The ledger and the alerts watching it: what the daemon owns, and what a command opens when no daemon runs. */
export interface LedgerServices {
  ledger: Ledger;
  alerts: AlertMonitor;
  recovery: OpenReport;
}

/** Takes the data directory's lock (`ledger_locked` if someone holds it), replays the journal, starts the alerts. */
export async function openLedgerServices(options: {
  config: Readonly<Config>;
  dataDir: string;
  clock: () => number;
  warn: (message: string) => void;
  /** Ledger options beyond the config's (fault-injection tests: `journalIo`, `journalRetryMs`). */
  ledger?: Pick<LedgerOptions, "journalIo" | "journalRetryMs">;
}): Promise<LedgerServices> {
  const { config, dataDir, clock, warn } = options;
  const { ledger, report } = await Ledger.open({
    dir: dataDir,
    policy: compilePolicy(config),
    fsync: config.storage.fsync,
    clock,
    warn,
    ...options.ledger,
  });
  try {
    const alerts = AlertMonitor.start({ config, dataDir, ledger, clock, warn });
    return { ledger, alerts, recovery: report };
  } catch (error) {
    await ledger.close();
    throw error;
  }
}

/** Stops the alerts (their last marks go into the ledger's final snapshot), then the ledger. */
export async function closeLedgerServices(services: LedgerServices): Promise<CloseReport> {
  await services.alerts.close();
  return services.ledger.close();
}
