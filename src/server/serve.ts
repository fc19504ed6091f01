import { type IncomingMessage, type Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createAdaptorServer, type Http2Bindings, type HttpBindings } from "@hono/node-server";
import type { AlertMonitor } from "../alerts/monitor.js";
import type { Config } from "../config/types.generated.js";
import { TokenpakError } from "../errors.js";
import type { CloseReport, Ledger, LedgerHealth, LedgerOptions, OpenReport } from "../ledger/ledger.js";
import { isLoopbackHost } from "../net/loopback.js";
import { type ProviderSettings, Upstreams } from "../providers/upstream.js";
import { createAdminRouter } from "./admin.js";
import { createApp } from "./app.js";
import { type ControlChannel, controlSocketPath, listenControl } from "./control-socket.js";
import { bindResponse } from "./disconnect.js";
import { Authenticator } from "./identity.js";
import { metricsAccess, ProxyMetrics } from "./metrics.js";
import { type PriceWatch, watchPrices } from "./price-watch.js";
import { ResponseMemory } from "./response-memory.js";
import { closeLedgerServices, openLedgerServices } from "./services.js";

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
}

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
  openMode: boolean;
  /** The local control channel's socket (<data-dir>/tokenpak.sock); undefined when it could not be opened. */
  controlSocket: string | undefined;
  /** Stops accepting, lets requests in flight finish (bounded), settles, flushes. */
  close(): Promise<CloseReport>;
}

const SWEEP_MS = 30_000;

function providerSettings(config: Readonly<Config>): Map<string, ProviderSettings> {
  return new Map(
    Object.entries(config.providers ?? {}).flatMap(([name, p]) =>
      p
        ? [
            [
              name,
              {
                name,
                type: p.type,
                apiKey: p.api_key,
                baseUrl: p.base_url,
                timeoutMs: p.timeout_ms,
                mock: { replyTokens: p.reply_tokens ?? 50, latencyMs: p.latency_ms ?? 0 },
              },
            ] as const,
          ]
        : [],
    ),
  );
}

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
  const auth = new Authenticator(config);
  if (auth.openMode && !isLoopbackHost(host) && !options.insecure) {
    throw new TokenpakError(
      "unsafe_bind",
      `no client keys are configured (open mode: anyone can spend as any user); refusing to listen on ${host}. Configure keys:, listen on 127.0.0.1, or pass --insecure`,
    );
  }
  if (config.storage.backend !== "file") {
    throw new TokenpakError("invalid_argument", "storage.backend redis is not available yet; use file");
  }
  const clock = options.clock ?? Date.now;
  const warn = options.warn ?? ((message: string) => process.stderr.write(`tokenpak: ${message}\n`));
  const services = await openLedgerServices({
    config,
    dataDir: options.dataDir,
    clock,
    warn,
    ...(options.ledger ? { ledger: options.ledger } : {}),
  });
  const { ledger, alerts, recovery: report } = services;
  let prices: PriceWatch;
  try {
    prices = watchPrices({ config, dataDir: options.dataDir, ledger, alerts, clock, warn });
  } catch (error) {
    await closeLedgerServices(services);
    throw error;
  }
  ledger.onHealth((health) => reportHealth(health, alerts, warn));
  const upstreams = new Upstreams(providerSettings(config));
  const access = metricsAccess(host, config.server);
  const metrics = access.served
    ? new ProxyMetrics({ config, ledger, alerts, prices: prices.book, clock })
    : undefined;
  const app = createApp({
    metrics,
    metricsToken: access.served ? access.token : undefined,
    config,
    ledger,
    upstreams,
    auth,
    memory: new ResponseMemory(ledger),
    prices: prices.book,
    maxBodyBytes: config.server.max_body_bytes,
    clock,
    warn,
  });

  const server = createAdaptorServer({
    fetch: (request: Request, env: HttpBindings | Http2Bindings) => {
      if (env.outgoing instanceof ServerResponse) bindResponse(request, env.outgoing);
      return app.fetch(request, env);
    },
  }) as Server;
  server.keepAliveTimeout = 65_000;
  // Responses not yet fully sent (a stream's lasts until its end): shutdown waits for these,
  // not merely for app.fetch to return a Response whose body is still to be written.
  const active = new Set<ServerResponse>();
  let closingDown = false;
  let drained: (() => void) | undefined;
  server.on("request", (_req: IncomingMessage, res: ServerResponse) => {
    // Requests that still arrive on kept-alive connections while draining: answer, then hang up.
    if (closingDown && !res.headersSent) res.shouldKeepAlive = false;
    active.add(res);
    res.once("close", () => {
      active.delete(res);
      if (active.size === 0) drained?.();
    });
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    prices.close();
    await closeLedgerServices(services);
    const code = (error as NodeJS.ErrnoException).code;
    throw new TokenpakError(
      "io_error",
      code === "EADDRINUSE"
        ? `${host}:${port} is already in use`
        : `cannot listen on ${host}:${port}: ${code ?? String(error)}`,
    );
  }
  // Commands that change the ledger while we run (reconcile-spend) come through here.
  let control: ControlChannel | undefined;
  const startedAt = clock();
  try {
    control = await listenControl(
      createAdminRouter({ ledger, alerts, dataDir: options.dataDir, clock, startedAt }),
      controlSocketPath(options.dataDir),
    );
  } catch (error) {
    warn(
      `no control channel (${error instanceof Error ? error.message : String(error)}): commands that change the ledger will refuse while the proxy runs`,
    );
  }
  const sweeper = setInterval(() => ledger.sweep(), SWEEP_MS);
  sweeper.unref();
  const address = server.address() as AddressInfo;
  const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;

  let closing: Promise<CloseReport> | undefined;
  return {
    url: `http://${shownHost}:${address.port}`,
    host: address.address,
    port: address.port,
    ledger,
    alerts,
    prices: prices.book,
    pricingStale: prices.staleNotice,
    recovery: report,
    openMode: auth.openMode,
    controlSocket: control?.path,
    close() {
      closing ??= (async () => {
        closingDown = true;
        // No admin call starts from now on; one in flight finishes before the ledger closes.
        const controlClosed = control?.close();
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        // Each connection busy with a response closes once that response is out.
        for (const res of active) if (!res.headersSent) res.shouldKeepAlive = false;
        server.closeIdleConnections();
        const idle = new Promise<void>((resolve) => {
          drained = resolve;
        });
        if (active.size > 0) {
          const drainMs = options.drainMs ?? 10_000;
          await Promise.race([idle, new Promise<void>((resolve) => setTimeout(resolve, drainMs).unref())]);
        }
        server.closeAllConnections();
        await stopped;
        clearInterval(sweeper);
        prices.close();
        await upstreams.close();
        await controlClosed;
        return closeLedgerServices(services);
      })();
      return closing;
    },
  };
}
