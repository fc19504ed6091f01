import { collectDefaultMetrics, Gauge, type Histogram, Registry } from "prom-client";
import type { AlertMonitor } from "../alerts/monitor.js";
import type { Config } from "../config/types.generated.js";
import type { JournalEntry } from "../ledger/journal.js";
import type { Ledger } from "../ledger/ledger.js";
import { roomOfSmallest } from "../ledger/room.js";
import { type StatusRow, toRow } from "../ledger/status.js";
import { isLoopbackHost } from "../net/loopback.js";
import type { PriceSource, PricingStatus } from "../pricing/book.js";
import type { Route } from "../providers/wire.js";

/**
 * What became of a request: served as asked (allowed), with max_tokens
 * lowered to what the budget pays for (clamped), on the fallback model
 * (fallback), refused by a limit (blocked), or never decided — an invalid or
 * unauthenticated request, a store that cannot be written (error).
 */
export type Outcome = "allowed" | "clamped" | "fallback" | "blocked" | "error";
const OUTCOMES: readonly Outcome[] = ["allowed", "clamped", "fallback", "blocked", "error"];

/** Distinct values kept per label (model, project, provider); later ones are counted as "other". */
export const MAX_LABEL_VALUES = 100;
/** Scopes with utilisation gauges: the first this many the config names (see Policy.namedScopes). */
export const MAX_BUDGET_SCOPES = 500;
const OTHER = "other";

/** Seconds. Ours is well under a millisecond; a provider's, seconds. */
const ADDED_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const UPSTREAM_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120];

/** Keeps a label's values bounded: the first MAX_LABEL_VALUES seen are themselves, the rest "other". */
class LabelValues {
  private readonly seen = new Set<string>();

  of(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= MAX_LABEL_VALUES) return OTHER;
    this.seen.add(value);
    return value;
  }
}

/** A histogram's counts in preallocated slots: observing one value is a loop and three additions. */
class Buckets {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(seconds: number): void {
    const { bounds } = this;
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= (bounds[i] as number)) {
        this.counts[i] = (this.counts[i] ?? 0) + 1;
        break;
      }
    }
    this.sum += seconds;
    this.count++;
  }
}

interface SpendCell {
  micros: number;
  input: number;
  cached: number;
  cacheWrite: number;
  output: number;
}

/** The value at `key`, made (by a function created once, not per call) the first time. */
function slot<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

const newMap = <K, V>() => new Map<K, V>();
const newUpstream = () => new Buckets(UPSTREAM_BUCKETS);
const newAdded = () => new Buckets(ADDED_BUCKETS);
const newCounts = () => OUTCOMES.map(() => 0);
const newAdjustment = () => ({ up: 0, down: 0 });

/** Nested maps of fixed depth: finding a slot is a few lookups of strings we already hold, no allocation. */
class Slots<T> {
  private readonly root = new Map<string | number, Map<string | number, Map<string, T>>>();

  constructor(private readonly make: () => T) {}

  get(a: string | number, b: string | number, c: string): T {
    const l1 = slot(this.root, a, newMap<string | number, Map<string, T>>);
    return slot(slot(l1, b, newMap<string, T>), c, this.make);
  }

  *entries(): Generator<[string | number, string | number, string, T]> {
    for (const [a, l1] of this.root)
      for (const [b, l2] of l1) for (const [c, leaf] of l2) yield [a, b, c, leaf];
  }
}

type Sample = { labels: Record<string, string | number>; value: number; metricName?: string };

/**
 * A metric whose values live in our slots and are read only when scraped. prom-client's own
 * counters and histograms hash their labels into a string on every update; these do not.
 */
function slotMetric(
  name: string,
  help: string,
  type: "counter" | "histogram",
  samples: () => Sample[],
): Histogram {
  const metric = {
    name,
    help,
    type,
    aggregator: "sum" as const,
    get: async () => ({ name, help, type, aggregator: "sum" as const, values: samples() }),
  };
  // The registry formats any metric with a name and get(); its type only names its own classes.
  return metric as unknown as Histogram;
}

function histogramSamples(name: string, labels: Record<string, string>, b: Buckets): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  for (const [i, bound] of b.bounds.entries()) {
    cumulative += b.counts[i] ?? 0;
    out.push({ labels: { ...labels, le: bound }, value: cumulative, metricName: `${name}_bucket` });
  }
  out.push({ labels: { ...labels, le: "+Inf" }, value: b.count, metricName: `${name}_bucket` });
  out.push({ labels, value: b.sum, metricName: `${name}_sum` });
  out.push({ labels, value: b.count, metricName: `${name}_count` });
  return out;
}

let defaults: Registry | undefined;
/** Node's process metrics, collected once per process (their observers cannot be stopped). */
function defaultMetrics(): Registry {
  if (!defaults) {
    defaults = new Registry();
    collectDefaultMetrics({ register: defaults });
  }
  return defaults;
}

export interface MetricsSources {
  ledger: Ledger;
  alerts: AlertMonitor;
  prices: PriceSource & { status(now: number): PricingStatus };
  /** The config in force (a reload replaces it): its models are what the smallest request may use. */
  config: () => Readonly<Pick<Config, "models" | "providers">>;
  clock: () => number;
}

/**
 * The daemon's Prometheus metrics. Recording (a request's outcome, its
 * latencies, a settle's spend) only adds to numbers in slots created the
 * first time a label combination is seen; everything else — budgets,
 * reservations, alerts, prices — is read when Prometheus scrapes.
 */
export class ProxyMetrics {
  readonly registry: Registry;
  private readonly models = new LabelValues();
  private readonly projects = new LabelValues();
  private readonly providers = new LabelValues();
  private readonly requests = new Slots<Map<string, number[]>>(() => new Map());
  private readonly spend = new Slots<SpendCell>(() => ({
    micros: 0,
    input: 0,
    cached: 0,
    cacheWrite: 0,
    output: 0,
  }));
  private readonly adjustments = new Map<string, { up: number; down: number }>();
  private readonly upstream = new Map<string, Map<string, Buckets>>();
  private readonly added = new Map<string, Buckets>();

  constructor(private readonly sources: MetricsSources) {
    const own = new Registry();
    for (const metric of this.slotMetrics()) own.registerMetric(metric);
    for (const gauge of this.gauges()) own.registerMetric(gauge);
    this.registry = Registry.merge([own, defaultMetrics()]);
    sources.ledger.tap((entry) => this.entry(entry));
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text Prometheus scrapes. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** A request answered: its route, HTTP status, model and project (as far as known), and what became of it. */
  request(route: Route, status: number, model: string, project: string, outcome: Outcome): void {
    const byProject = this.requests.get(route, status, this.models.of(model));
    const counts = slot(byProject, this.projects.of(project), newCounts);
    const i = OUTCOMES.indexOf(outcome);
    counts[i] = (counts[i] ?? 0) + 1;
  }

  /** Seconds a provider took to answer (to its response headers), and the seconds tokenpak added around it. */
  latency(route: Route, provider: string, upstreamSeconds: number, addedSeconds: number): void {
    const byRoute = slot(this.upstream, this.providers.of(provider), newMap<string, Buckets>);
    slot(byRoute, route, newUpstream).observe(upstreamSeconds);
    slot(this.added, route, newAdded).observe(addedSeconds);
  }

  /** What the ledger recorded: a settle's spend and tokens, an adjustment's correction. */
  private entry(e: JournalEntry): void {
    if (e.type === "settle") {
      const cell = this.spend.get(
        this.providers.of(e.provider),
        this.models.of(e.model),
        this.projects.of(e.project ?? ""),
      );
      cell.micros += e.cost;
      cell.input += e.usage.input;
      cell.cached += e.usage.cached_input;
      cell.cacheWrite += e.usage.cache_write + e.usage.cache_write_1h;
      cell.output += e.usage.output;
    } else if (e.type === "adjust") {
      const cell = slot(this.adjustments, this.providers.of(e.provider ?? ""), newAdjustment);
      if (e.cost >= 0) cell.up += e.cost;
      else cell.down -= e.cost;
    }
  }

  private slotMetrics(): Histogram[] {
    const spendSamples = (f: (c: SpendCell) => number, extra: Record<string, string> = {}) =>
      [...this.spend.entries()].map(([provider, model, project, cell]) => ({
        labels: { provider, model, project, ...extra },
        value: f(cell),
      }));
    return [
      slotMetric(
        "tokenpak_requests_total",
        "Requests on the budgeted routes, by route, HTTP status, model, project and outcome (allowed, clamped, fallback, blocked, error).",
        "counter",
        () =>
          [...this.requests.entries()].flatMap(([route, status, model, byProject]) =>
            [...byProject].flatMap(([project, counts]) =>
              OUTCOMES.flatMap((outcome, i) =>
                (counts[i] ?? 0) > 0
                  ? [{ labels: { route, status, model, project, outcome }, value: counts[i] ?? 0 }]
                  : [],
              ),
            ),
          ),
      ),
      slotMetric(
        "tokenpak_spend_microcents_total",
        "Settled spend in micro-cents (1 cent = 1,000,000), exact: what the ledger's journal adds up to, corrections aside.",
        "counter",
        () => spendSamples((c) => c.micros),
      ),
      slotMetric("tokenpak_spend_dollars_total", "Settled spend in US dollars.", "counter", () =>
        spendSamples((c) => c.micros / 100_000_000),
      ),
      slotMetric(
        "tokenpak_tokens_total",
        "Billed tokens by kind: input (uncached), cached_input, cache_write, output.",
        "counter",
        () => [
          ...spendSamples((c) => c.input, { kind: "input" }),
          ...spendSamples((c) => c.cached, { kind: "cached_input" }),
          ...spendSamples((c) => c.cacheWrite, { kind: "cache_write" }),
          ...spendSamples((c) => c.output, { kind: "output" }),
        ],
      ),
      slotMetric(
        "tokenpak_adjustments_microcents_total",
        "Corrections written to the ledger (reconcile-spend, manual), in micro-cents, by direction.",
        "counter",
        () =>
          [...this.adjustments].flatMap(([provider, c]) => [
            { labels: { provider, direction: "up" }, value: c.up },
            { labels: { provider, direction: "down" }, value: c.down },
          ]),
      ),
      slotMetric(
        "tokenpak_upstream_latency_seconds",
        "Time from sending a request to the provider to its response headers.",
        "histogram",
        () =>
          [...this.upstream].flatMap(([provider, byRoute]) =>
            [...byRoute].flatMap(([route, b]) =>
              histogramSamples("tokenpak_upstream_latency_seconds", { provider, route }, b),
            ),
          ),
      ),
      slotMetric(
        "tokenpak_added_latency_seconds",
        "Time tokenpak adds to a forwarded request: before it is sent upstream, and after the provider's answer is in.",
        "histogram",
        () =>
          [...this.added].flatMap(([route, b]) =>
            histogramSamples("tokenpak_added_latency_seconds", { route }, b),
          ),
      ),
    ];
  }

  private gauges(): Gauge[] {
    return [...this.budgetGauges(), ...this.stateGauges()];
  }

  /** The limits of the scopes the config names, as `tokenpak status` judges them, and how many are left out. */
  private budgetGauges(): Gauge[] {
    const { ledger, alerts, prices, config } = this.sources;
    // The policy is read at each scrape: a reload replaces it.
    const shown = () => ledger.policy.namedScopes.slice(0, MAX_BUDGET_SCOPES);
    // The rows `tokenpak status` shows, so that "blocked" means the same in both.
    const budgets = () => {
      const { policy } = ledger;
      const judges = {
        refused: alerts.refused(),
        room: roomOfSmallest(config(), prices, policy.hardStopPct),
      };
      return ledger.status(shown()).map((s) => toRow(s, policy, judges));
    };
    return [
      scopedGauge(
        "tokenpak_budget_utilization_ratio",
        `Settled spend / limit of each limit of the scopes the config names (the first ${MAX_BUDGET_SCOPES}).`,
        budgets,
        (s) => (s.limit > 0 ? s.spent / s.limit : 0),
      ),
      scopedGauge(
        "tokenpak_budget_reserved_ratio",
        "Held by requests in flight / limit, same scopes.",
        budgets,
        (s) => (s.limit > 0 ? s.reserved / s.limit : 0),
      ),
      scopedGauge(
        "tokenpak_budget_blocked",
        "1 while the limit refuses new requests: what spend (or requests in flight) leave cannot pay for the smallest request, or it refused one in this window (status's BLOCKED or full).",
        budgets,
        (r) => (r.blocked ? 1 : 0),
      ),
      singleGauge(
        "tokenpak_budget_scopes_omitted",
        `Limited scopes the config names beyond the first ${MAX_BUDGET_SCOPES}, which have no utilisation gauges.`,
        () => Math.max(0, ledger.policy.namedScopes.length - MAX_BUDGET_SCOPES),
      ),
    ];
  }

  /** The daemon's own state: reservations, the journal, alert deliveries, the price table. */
  private stateGauges(): Gauge[] {
    const { ledger, alerts, prices, clock } = this.sources;
    return [
      singleGauge(
        "tokenpak_reservations_in_flight",
        "Requests reserved and not yet settled.",
        () => ledger.openReservations,
      ),
      singleGauge(
        "tokenpak_ledger_writable",
        "1 while the journal takes writes; 0 while requests get 503.",
        () => (ledger.writable ? 1 : 0),
      ),
      singleGauge(
        "tokenpak_alert_deliveries_pending",
        "Alert deliveries queued, waiting for a retry or in flight.",
        () => alerts.pendingDeliveries,
      ),
      singleGauge(
        "tokenpak_alert_deliveries_dead",
        "Alert deliveries given up on (dead letters) since the daemon started.",
        () => alerts.deadDeliveries,
      ),
      singleGauge(
        "tokenpak_pricing_age_seconds",
        "Age of the price table in use (since it was fetched).",
        () => {
          const at = prices.status(clock()).fetched_at;
          return at === null ? undefined : (clock() - Date.parse(at)) / 1000;
        },
      ),
      singleGauge(
        "tokenpak_pricing_stale",
        "1 while prices in use are older than pricing.stale_after_hours.",
        () => (prices.status(clock()).stale ? 1 : 0),
      ),
    ];
  }
}

const BUDGET_LABELS = ["scope", "window", "unit"] as const;

/** A gauge per limit of the named scopes; it is emptied at each scrape so a scope gone from the config goes too. */
function scopedGauge(
  name: string,
  help: string,
  rows: () => StatusRow[],
  value: (r: StatusRow) => number,
): Gauge {
  return new Gauge({
    name,
    help,
    labelNames: BUDGET_LABELS,
    registers: [],
    collect() {
      this.reset();
      for (const s of rows()) {
        this.set({ scope: s.scope, window: s.window, unit: s.unit }, value(s));
      }
    },
  });
}

/** An unlabelled gauge read at each scrape; undefined (nothing known yet) leaves it without a sample. */
function singleGauge(name: string, help: string, value: () => number | undefined): Gauge {
  return new Gauge({
    name,
    help,
    registers: [],
    collect() {
      this.reset();
      const v = value();
      if (v !== undefined) this.set(v);
    },
  });
}

/** Who may GET /metrics: nobody, anyone who reaches the port, or requests bearing the admin token. */
export type MetricsAccess = { served: false } | { served: true; token?: string };

/**
 * `server.metrics: true` serves everyone, `false` no one; unset, a loopback
 * bind serves everyone (it is this machine's), any other bind only with
 * `server.admin_token` set, and then only to requests bearing it: the
 * metrics name projects and what they spend.
 */
export function metricsAccess(host: string, server: Readonly<Config["server"]>): MetricsAccess {
  if (server.metrics === true) return { served: true };
  if (server.metrics === false) return { served: false };
  if (isLoopbackHost(host)) return { served: true };
  return server.admin_token !== undefined && server.admin_token !== ""
    ? { served: true, token: server.admin_token }
    : { served: false };
}
