import type { AlertMonitor } from "../alerts/monitor.js";
import { compilePolicy } from "../budget/policy.js";
import type { Config } from "../config/types.generated.js";
import { TokenpakError } from "../errors.js";
import { assertNoClashes, keyLimits, type StoredKey, storeGrants } from "../keys/keys.js";
import { KeyRing } from "../keys/ring.js";
import type { KeyStore } from "../keys/store.js";
import type { KeyUsage } from "../keys/usage.js";
import type { Ledger } from "../ledger/ledger.js";
import { isLoopbackHost } from "../net/loopback.js";
import { type ProviderSettings, Upstreams } from "../providers/upstream.js";
import type { AppDeps } from "./app.js";
import { Authenticator } from "./identity.js";
import type { ProxyMetrics } from "./metrics.js";
import type { PriceWatch } from "./price-watch.js";
import type { ResponseMemory } from "./response-memory.js";

/** How long a replaced provider's connections stay for requests that started before the change. */
const RETIRE_MS = 10 * 60_000;

export function providerSettings(config: Readonly<Config>): Map<string, ProviderSettings> {
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

/** What the daemon was started with and keeps whatever is reloaded. */
export interface RuntimeParts {
  ledger: Ledger;
  alerts: AlertMonitor;
  prices: PriceWatch;
  memory: ResponseMemory;
  usage: KeyUsage;
  clock: () => number;
  warn: (message: string) => void;
  /** Where the proxy listens: open mode is refused beyond loopback unless `insecure`. */
  host: string;
  insecure: boolean;
  /** Where requests are counted for GET /metrics. */
  metrics?: ProxyMetrics | undefined;
}

/** What one change did. */
export interface Applied {
  /** Journal entries replayed to rebuild the counters, when the new limits count in new windows. */
  rebuilt?: number;
  openMode: boolean;
}

/**
 * Everything a request is checked and served with — the config, the
 * authenticator (config keys and the key store's), the budget policy (in the
 * ledger), the upstream connections, the prices and the alert targets — in
 * the one place a reload or a key change replaces them. A request takes
 * `current()` once, when it starts, and keeps that to its end: a change
 * applies to the next request, never to one in flight.
 */
export class Runtime {
  private deps: AppDeps;
  private stored: readonly StoredKey[];
  private readonly retired = new Set<Upstreams>();

  constructor(
    private readonly parts: RuntimeParts,
    config: Readonly<Config>,
    stored: readonly StoredKey[],
  ) {
    this.stored = stored;
    const auth = this.authenticator(config, stored);
    this.deps = {
      config,
      ledger: parts.ledger,
      upstreams: new Upstreams(providerSettings(config)),
      auth,
      memory: parts.memory,
      prices: parts.prices.book,
      maxBodyBytes: config.server.max_body_bytes,
      clock: parts.clock,
      warn: parts.warn,
      metrics: parts.metrics,
    };
  }

  current(): AppDeps {
    return this.deps;
  }

  get config(): Readonly<Config> {
    return this.deps.config;
  }

  get storedKeys(): readonly StoredKey[] {
    return this.stored;
  }

  private authenticator(config: Readonly<Config>, stored: readonly StoredKey[]): Authenticator {
    assertNoClashes(config, stored);
    const auth = new Authenticator(config, {
      stored: storeGrants(stored),
      clock: this.parts.clock,
      usage: this.parts.usage,
    });
    if (auth.openMode && !isLoopbackHost(this.parts.host) && !this.parts.insecure) {
      throw new TokenpakError(
        "unsafe_bind",
        `no client keys are configured (open mode: anyone can spend as any user); refusing to serve on ${this.parts.host}. Configure keys: (or tokenpak keys create), listen on 127.0.0.1, or pass --insecure`,
      );
    }
    return auth;
  }

  /**
   * Checks `config` with the store's keys `stored` and builds what the next
   * request would be served with; the function returned puts it in force.
   * Everything that can refuse (clashing keys, open mode beyond loopback)
   * does so here, before anything changes — so a key change is checked
   * before the store is written. `fresh`: the scope of a key just created
   * (its counters need no rebuild).
   */
  prepare(config: Readonly<Config>, stored: readonly StoredKey[], fresh?: string): () => Applied {
    const old = this.deps;
    const auth = this.authenticator(config, stored);
    const policy = compilePolicy(config, keyLimits(config, stored));
    const sameProviders =
      JSON.stringify([...providerSettings(old.config)]) === JSON.stringify([...providerSettings(config)]);
    return () => {
      if (this.deps !== old)
        throw new TokenpakError("internal_error", "the runtime changed between prepare and apply");
      // The one step that can still fail (a rebuild that cannot read the journal): nothing is swapped yet.
      const { rebuilt } = this.parts.ledger.usePolicy(policy, new Set(fresh !== undefined ? [fresh] : []));
      const upstreams = sameProviders ? old.upstreams : new Upstreams(providerSettings(config));
      if (config !== old.config) {
        this.parts.prices.configure(config);
        this.parts.alerts.reconfigure(config);
      }
      if (upstreams !== old.upstreams) this.retire(old.upstreams);
      this.stored = stored;
      this.deps = { ...old, config, auth, upstreams, maxBodyBytes: config.server.max_body_bytes };
      return { ...(rebuilt !== undefined ? { rebuilt } : {}), openMode: auth.openMode };
    };
  }

  /** Serves the next request with `config` and the store's keys `stored` (prepare, then put in force). */
  apply(config: Readonly<Config>, stored: readonly StoredKey[], fresh?: string): Applied {
    return this.prepare(config, stored, fresh)();
  }

  /**
   * The key store's operations as the daemon runs them: a key created,
   * revoked or rotated is checked against what the proxy serves before the
   * store is written, and serves the next request once it is.
   */
  keyRing(store: KeyStore, usage: KeyUsage): KeyRing {
    return new KeyRing({
      store,
      config: () => this.config,
      usage,
      clock: this.parts.clock,
      prepare: (stored, fresh) => {
        this.prepare(this.config, stored, fresh); // refuses before the store is written
        // Built again once written: a reload may have come in between.
        return () => {
          try {
            this.apply(this.config, stored, fresh);
          } catch (error) {
            const why = error instanceof Error ? error.message : String(error);
            throw new TokenpakError(
              "reload_refused",
              `the key store was written, but the proxy could not take it (${why}); fix it and run tokenpak reload`,
            );
          }
        };
      },
    });
  }

  /** A replaced provider's pool serves what started on it, then closes. */
  private retire(upstreams: Upstreams): void {
    this.retired.add(upstreams);
    setTimeout(() => {
      this.retired.delete(upstreams);
      void upstreams.close();
    }, RETIRE_MS).unref();
  }

  async close(): Promise<void> {
    await Promise.all([this.deps.upstreams, ...this.retired].map((u) => u.close()));
    this.retired.clear();
  }
}
