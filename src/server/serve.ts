import { type IncomingMessage, type Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createAdaptorServer, type Http2Bindings, type HttpBindings } from "@hono/node-server";
import type { AlertMonitor } from "../alerts/monitor.js";
import type { Env } from "../config/load.js";
import type { Config } from "../config/types.generated.js";
import { TokenpakError } from "../errors.js";
import type { KeyRing } from "../keys/ring.js";
import type { CloseReport, Ledger, LedgerHealth, LedgerOptions, OpenReport } from "../ledger/ledger.js";
import { createAdminRouter } from "./admin.js";
import { createApp } from "./app.js";
import { type ControlChannel, controlSocketPath, listenControl } from "./control-socket.js";
import { bindResponse } from "./disconnect.js";
import { ProxyMetrics } from "./metrics.js";
import { type PriceWatch, watchPrices } from "./price-watch.js";
import { type ReloadRecord, type ReloadResult, reloader } from "./reload.js";
import { ResponseMemory } from "./response-memory.js";
import { Runtime } from "./runtime.js";
import { closeLedgerServices, type LedgerServices, openLedgerServices, saveKeyUsage } from "./services.js";

export interface ProxyOptions {
  config: Readonly<Config>;
  dataDir: string;
  host?: string | undefined;
  port?: number | undefined;
  /** Allow open mode (no client keys) on a non-loopback address. */
  insecure?: boolean | undefined;
  /** How long shutdown waits for requests in flight (default 10 s). */
  drainMs?: number | undefined;
  clock?: () => number;
  /** Problems of the alerts themselves (cannot write the log) and of the ledger's files: default stderr. */
  warn?: (message: string) => void;
  /** Ledger options beyond the config's (fault-injection tests: `journalIo`, `journalRetryMs`). */
  ledger?: Pick<LedgerOptions, "journalIo" | "journalRetryMs">;
  /** The config's file and environment, for reloads (without a file, a reload is refused). */
  configFile?: string | undefined;
  env?: Env | undefined;
  /** One structured record per start, reload and stop (the CLI writes them to stderr as JSON lines). */
  log?: (event: ProxyEvent) => void;
}

/** What the daemon says about its life: one record per start, reload (done or refused) and stop. */
export type ProxyEvent =
  | {
      event: "start";
      url: string;
      pid: number;
      data_dir: string;
      config: string | null;
      keys: number;
      open_mode: boolean;
      control_socket: string | null;
      admin_api: boolean;
    }
  | ({ event: "reload" } & ReloadRecord)
  | { event: "stop"; interrupted: number };

export interface RunningProxy {
  url: string;
  host: string;
  port: number;
  ledger: Ledger;
  alerts: AlertMonitor;
  /** The prices in force, following the synced table in the data directory. */
  prices: PriceWatch["book"];
  /** Set when prices in use come from a table older than pricing.stale_after_hours. */
  pricingStale: string | undefined;
  recovery: OpenReport;
  /** No client keys, in the config nor the key store (as of now: a key created ends it). */
  readonly openMode: boolean;
  /** The local control channel's socket (<data-dir>/tokenpak.sock); undefined when it could not be opened. */
  controlSocket: string | undefined;
  /** The key store's operations, applied to the next request. */
  keys: KeyRing;
  /** The config in force. */
  readonly config: Readonly<Config>;
  /**
   * Re-reads the config file and the key store (SIGHUP, POST /admin/reload,
   * `tokenpak reload`); refused (`reload_refused`, with the problems) when
   * they cannot be used, and the config in force keeps serving.
   */
  reload(by?: string): Promise<ReloadResult>;
  /** Stops accepting, lets requests in flight finish (bounded), settles, flushes. */
  close(): Promise<CloseReport>;
}

const SWEEP_MS = 30_000;
/** How often the keys' last use is handed to the ledger's snapshot. */
const USAGE_MS = 5_000;

/** One log line and one alert each time the journal stops, or starts, taking writes. */
function reportHealth(health: LedgerHealth, alerts: AlertMonitor, warn: (message: string) => void): void {
  const message = health.writable
    ? "the ledger can write its journal again: requests are admitted"
    : `the ledger cannot write its journal (${health.error}): requests get 503 store_unavailable until it can; retrying`;
  warn(message);
  alerts.raise({ event: health.writable ? "store_recovered" : "store_unavailable", message });
}

/** Opens the ledger and starts listening. Throws TokenpakError for anything the user must fix. */
export async function startProxy(options: ProxyOptions): Promise<RunningProxy> {
  const { config } = options;
  const host = options.host ?? config.server.host;
  const port = options.port ?? config.server.port;
  if (config.storage.backend !== "file") {
    throw new TokenpakError("invalid_argument", "storage.backend redis is not available yet; use file");
  }
  const clock = options.clock ?? Date.now;
  const warn = options.warn ?? ((message: string) => process.stderr.write(`tokenpak: ${message}\n`));
  const log = options.log ?? (() => {});
  const services = await openLedgerServices({
    config,
    dataDir: options.dataDir,
    clock,
    warn,
    ...(options.ledger ? { ledger: options.ledger } : {}),
  });
  const { ledger, alerts, recovery: report, keyStore, usage } = services;
  let opened: { prices: PriceWatch; runtime: Runtime };
  try {
    opened = openRuntime(options, services, host, clock, warn);
  } catch (error) {
    await closeLedgerServices(services);
    throw error;
  }
  const { prices, runtime } = opened;
  ledger.onHealth((health) => reportHealth(health, alerts, warn));
  const keys = runtime.keyRing(keyStore, usage);
  const reload = reloader({
    file: options.configFile,
    env: options.env ?? process.env,
    runtime,
    store: keyStore,
    warn,
    log: (record) => log({ event: "reload", ...record }),
  });
  const adminContext = {
    ledger,
    alerts,
    dataDir: options.dataDir,
    clock,
    startedAt: clock(),
    config: () => runtime.config,
    keys,
    prices: () => runtime.current().prices,
    reload,
  };
  const admin = createAdminRouter(adminContext);
  const app = createApp(() => runtime.current(), admin, host);
  const { server, inFlight } = createHttpServer(app);

  try {
    await listen(server, port, host);
  } catch (error) {
    prices.close();
    await runtime.close();
    await closeLedgerServices(services);
    throw listenFailure(error, host, port);
  }
  const control = await openControl(admin, options.dataDir, warn);
  const timers = startTimers(services);
  const address = server.address() as AddressInfo;
  const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${shownHost}:${address.port}`;
  const openMode = () => runtime.current().auth.openMode;
  log(startEvent(options, url, keys, openMode, control));

  let closing: Promise<CloseReport> | undefined;
  return {
    url,
    host: address.address,
    port: address.port,
    ledger,
    alerts,
    prices: prices.book,
    pricingStale: prices.staleNotice,
    recovery: report,
    get openMode() {
      return openMode();
    },
    controlSocket: control?.path,
    keys,
    get config() {
      return runtime.config;
    },
    reload,
    close() {
      closing ??= (async () => {
        inFlight.closingDown = true;
        // No admin call starts from now on; one in flight finishes before the ledger closes.
        const controlClosed = control?.close();
        await drainServer(server, inFlight, options.drainMs ?? 10_000);
        for (const timer of timers) clearInterval(timer);
        prices.close();
        await runtime.close();
        await controlClosed;
        const closed = await closeLedgerServices(services);
        log({ event: "stop", interrupted: closed.interrupted });
        return closed;
      })();
      return closing;
    },
  };
}

/** The price watch and the runtime that serves with them; when the runtime cannot start, the watch is closed. */
function openRuntime(
  options: ProxyOptions,
  services: LedgerServices,
  host: string,
  clock: () => number,
  warn: (message: string) => void,
): { prices: PriceWatch; runtime: Runtime } {
  const { config } = options;
  const { ledger, alerts, keyStore, usage } = services;
  const prices = watchPrices({ config, dataDir: options.dataDir, ledger, alerts, clock, warn });
  let runtime: Runtime;
  try {
    const parts = { ledger, alerts, prices, usage, clock, warn, host, insecure: options.insecure === true };
    // Requests are counted whether or not /metrics is served (at the cost of a few additions).
    // The config in force when scraped: runtime is set just below, before anything is served.
    const metrics = new ProxyMetrics({
      ledger,
      alerts,
      prices: prices.book,
      config: () => runtime.config,
      clock,
    });
    runtime = new Runtime({ ...parts, memory: new ResponseMemory(ledger), metrics }, config, keyStore.keys);
  } catch (error) {
    prices.close();
    throw error;
  }
  return { prices, runtime };
}

/**
 * Responses not yet fully sent (a stream's lasts until its end): shutdown waits for these,
 * not merely for app.fetch to return a Response whose body is still to be written.
 */
interface InFlight {
  readonly active: Set<ServerResponse>;
  closingDown: boolean;
  drained: (() => void) | undefined;
}

/** The HTTP server for the app, which keeps count of the responses it is still sending. */
function createHttpServer(app: ReturnType<typeof createApp>): { server: Server; inFlight: InFlight } {
  const server = createAdaptorServer({
    fetch: (request: Request, env: HttpBindings | Http2Bindings) => {
      if (env.outgoing instanceof ServerResponse) bindResponse(request, env.outgoing);
      return app.fetch(request, env);
    },
  }) as Server;
  server.keepAliveTimeout = 65_000;
  const inFlight: InFlight = { active: new Set<ServerResponse>(), closingDown: false, drained: undefined };
  const { active } = inFlight;
  server.on("request", (_req: IncomingMessage, res: ServerResponse) => {
    // Requests that still arrive on kept-alive connections while draining: answer, then hang up.
    if (inFlight.closingDown && !res.headersSent) res.shouldKeepAlive = false;
    active.add(res);
    res.once("close", () => {
      active.delete(res);
      if (active.size === 0) inFlight.drained?.();
    });
  });
  return { server, inFlight };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** What the user is told when the address cannot be listened on. */
function listenFailure(error: unknown, host: string, port: number): TokenpakError {
  const code = (error as NodeJS.ErrnoException).code;
  return new TokenpakError(
    "io_error",
    code === "EADDRINUSE"
      ? `${host}:${port} is already in use`
      : `cannot listen on ${host}:${port}: ${code ?? String(error)}`,
  );
}

/**
 * Commands that change the ledger, the keys or the config while we run come through here.
 * Without it the proxy still serves: those commands refuse instead.
 */
async function openControl(
  admin: ReturnType<typeof createAdminRouter>,
  dataDir: string,
  warn: (message: string) => void,
): Promise<ControlChannel | undefined> {
  try {
    return await listenControl(admin, controlSocketPath(dataDir));
  } catch (error) {
    warn(
      `no control channel (${error instanceof Error ? error.message : String(error)}): commands that change the ledger will refuse while the proxy runs`,
    );
    return undefined;
  }
}

/** The ledger's sweep of expired reservations, and the keys' last use handed to its snapshot. */
function startTimers(services: LedgerServices): NodeJS.Timeout[] {
  const sweeper = setInterval(() => services.ledger.sweep(), SWEEP_MS);
  sweeper.unref();
  const usageSaver = setInterval(() => saveKeyUsage(services), USAGE_MS);
  usageSaver.unref();
  return [sweeper, usageSaver];
}

function startEvent(
  options: ProxyOptions,
  url: string,
  keys: KeyRing,
  openMode: () => boolean,
  control: ControlChannel | undefined,
): ProxyEvent {
  const { admin_token } = options.config.server;
  return {
    event: "start",
    url,
    pid: process.pid,
    data_dir: options.dataDir,
    config: options.configFile ?? null,
    keys: keys.list().filter((k) => k.state === "active").length,
    open_mode: openMode(),
    control_socket: control?.path ?? null,
    admin_api: admin_token !== undefined && admin_token !== "",
  };
}

/** Stops accepting and lets the responses in flight finish, for at most drainMs, before hanging up. */
async function drainServer(server: Server, inFlight: InFlight, drainMs: number): Promise<void> {
  const { active } = inFlight;
  const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
  // Each connection busy with a response closes once that response is out.
  for (const res of active) if (!res.headersSent) res.shouldKeepAlive = false;
  server.closeIdleConnections();
  const idle = new Promise<void>((resolve) => {
    inFlight.drained = resolve;
  });
  if (active.size > 0) {
    await Promise.race([idle, new Promise<void>((resolve) => setTimeout(resolve, drainMs).unref())]);
  }
  server.closeAllConnections();
  await stopped;
}
