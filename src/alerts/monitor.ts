import { randomUUID } from "node:crypto";
import { type Breach, capOf } from "../budget/decide.js";
import type { Limit, Scope } from "../budget/policy.js";
import { parseWindow, resetsAt, windowInstance, windowLabel } from "../budget/windows.js";
import { alertThresholds } from "../config/load.js";
import { resolveAlertsLog } from "../config/paths.js";
import type { Config } from "../config/types.generated.js";
import type { Block, Ledger, LedgerObserver, Reserved } from "../ledger/ledger.js";
import type { Refused } from "../ledger/status.js";
import { type Alert, type AlertEvent, limitAlert, messageAlert } from "./alert.js";
import { AppendFile } from "./append-file.js";
import { type Channel, channelsOf } from "./channels.js";
import { claim, crossings, type Fired, type Level, type Outcome, type Reading } from "./crossing.js";
import { Deliveries } from "./delivery.js";
import { logLine } from "./format.js";
import { compactOutbox, type MarkRef, type OutboxRecord, outboxPath, readOutbox } from "./outbox.js";
import { createSenders, type Senders } from "./senders.js";

/** The ledger mark holding the fired levels: { "<scope>|<window>/<unit>": [instance, ...levels] }. */
export const FIRED_MARK = "alerts.fired";

const DAY_MS = 86_400_000;
/** Finished alerts older than this leave the outbox when it is compacted (alerts.log keeps them). */
const OUTBOX_KEEP_MS = 35 * DAY_MS;
const OUTBOX_COMPACT_BYTES = 4 * 1024 * 1024;
const PRUNE_EVERY_MS = 10 * 60_000;
/** Spend older than this may count in a calendar window that has ended. */
const OLD_MS = 60_000;

export interface AlertMonitorOptions {
  config: Readonly<Config>;
  dataDir: string;
  ledger: Ledger;
  clock?: () => number;
  random?: () => number;
  /** Where problems of the alerts themselves go (a full disk): the daemon's stderr. */
  warn?: (message: string) => void;
}

/** An event from another feature (reconcile-spend, sync-pricing) or the daemon itself (its journal). */
export interface HookAlert {
  event: Extract<AlertEvent, "reconcile_drift" | "pricing_stale" | "store_unavailable" | "store_recovered">;
  message: string;
  scope?: Pick<Scope, "id" | "kind" | "name">;
}

interface Crossing {
  level: Level;
  scope: Pick<Scope, "id" | "kind" | "name">;
  limit: Limit;
  spent: number;
  /** When it crossed (the alert's `at`). */
  at: number;
  /** The moment whose window the spend counts in (a settle's reservation time): its reset is the alert's. */
  windowAt: number;
  mark: MarkRef;
  model?: string;
  fallbackModel?: string;
}

type Queued = { crossing: Crossing } | { alert: Alert };

type PersistedMarks = Record<string, [string, ...Level[]]>;

/**
 * Whether a budget refused a request in its current window, by the fired
 * marks (its "stop" level, raised by the refusal): `status` calls such a
 * budget blocked even when what is left is a few micro-cents short of the cap.
 */
export function refusedByMarks(mark: unknown, timeZone: string, now: number): Refused {
  const fired = isPersistedMarks(mark) ? mark : {};
  return (s) => {
    const held = fired[`${s.scope}|${windowLabel(s.window)}/${s.unit}`];
    return held?.includes("stop") === true && held[0] === windowInstance(s.window, now, timeZone).key;
  };
}

const limitIds = new WeakMap<Limit, string>();
/** "daily/cents", "24h/tokens", "total/requests": a limit's part of a fired key. */
function limitId(limit: Limit): string {
  let id = limitIds.get(limit);
  if (id === undefined) {
    id = `${windowLabel(limit.window)}/${limit.unit}`;
    limitIds.set(limit, id);
  }
  return id;
}

function isPersistedMarks(value: unknown): value is PersistedMarks {
  return (
    value !== null &&
    typeof value === "object" &&
    Object.values(value).every((v) => Array.isArray(v) && typeof v[0] === "string")
  );
}

/**
 * Watches the ledger and raises alerts: threshold crossings of every budget
 * of every scope, the first refusal, the fallback, soft-mode overruns.
 *
 * On the request path it only compares numbers and queues what crossed; the
 * alerts are built, written and handed to delivery right after, off it. An
 * alert is in the outbox before its fired mark may reach the ledger's
 * snapshot, and start-up merges the outbox's marks back in: a crash at any
 * moment neither loses an alert (nothing persisted: it fires again) nor
 * repeats one (persisted: it is known).
 */
export class AlertMonitor implements LedgerObserver {
  channels: Channel[];
  readonly logPath: string;
  private thresholds: readonly number[];
  private lowest: number;
  private readonly fired = new Map<string, Fired>();
  private readonly persisted: PersistedMarks = {};
  private readonly queue: Queued[] = [];
  private flushing: NodeJS.Immediate | undefined;
  private readonly log: AppendFile;
  private readonly outbox: AppendFile;
  private senders: Senders;
  /** Senders a reload replaced, closed once what they were sending has had its time. */
  private readonly retired = new Set<Senders>();
  private readonly deliveries: Deliveries;
  private readonly pruner: NodeJS.Timeout;
  private readonly clock: () => number;
  private readonly warn: (message: string) => void;
  private closed = false;

  private constructor(private readonly options: AlertMonitorOptions) {
    const { config, dataDir } = options;
    this.clock = options.clock ?? Date.now;
    this.warn = options.warn ?? (() => {});
    this.thresholds = alertThresholds(config);
    this.lowest = this.thresholds[0] ?? Number.POSITIVE_INFINITY;
    this.channels = channelsOf(config);
    this.logPath = resolveAlertsLog(config.alerts.log_file, dataDir);
    this.log = new AppendFile(this.logPath);
    try {
      this.outbox = new AppendFile(outboxPath(dataDir));
    } catch (error) {
      this.log.close();
      throw error;
    }
    this.senders = createSenders(config);
    const retry = config.alerts.retry;
    this.deliveries = new Deliveries({
      outbox: this.outbox,
      log: this.log,
      // Through the senders in force: a reload swaps them under retries already queued.
      send: (channel, alert, attempt) => this.senders.send(channel, alert, attempt),
      retry: {
        maxAttempts: retry.max_attempts,
        initialDelayMs: retry.initial_delay_ms,
        maxDelayMs: retry.max_delay_ms,
      },
      clock: this.clock,
      warn: this.warn,
      ...(options.random ? { random: options.random } : {}),
    });
    this.pruner = setInterval(() => this.prune(), PRUNE_EVERY_MS);
    this.pruner.unref();
  }

  /**
   * Restores the fired levels (ledger snapshot + outbox) and the deliveries
   * still owed, starts watching the ledger, and checks every budget once: a
   * limit lowered since the last run, or spend replayed after a crash, may
   * have crossed a threshold that never fired.
   */
  static start(options: AlertMonitorOptions): AlertMonitor {
    const monitor = new AlertMonitor(options);
    try {
      monitor.restore();
    } catch (error) {
      void monitor.close();
      throw error;
    }
    options.ledger.observe(monitor);
    monitor.evaluateAll();
    return monitor;
  }

  private restore(): void {
    const { ledger, dataDir } = this.options;
    const now = this.clock();
    const saved = ledger.mark(FIRED_MARK);
    if (isPersistedMarks(saved)) {
      for (const [key, [instance, ...levels]] of Object.entries(saved))
        this.fired.set(key, { instance, levels });
    }
    const path = outboxPath(dataDir);
    compactOutbox(path, now - OUTBOX_KEEP_MS, OUTBOX_COMPACT_BYTES);
    const byId = new Map(this.channels.map((c) => [c.id, c]));
    for (const record of readOutbox(path)) {
      if (record.mark) {
        const [key, instance, level] = record.mark;
        const held = this.fired.get(key);
        if (held?.instance === instance) {
          if (!held.levels.includes(level))
            this.fired.set(key, { instance, levels: [...held.levels, level] });
        } else if (!held || this.isCurrent(key, instance, now))
          this.fired.set(key, { instance, levels: [level] });
      }
      for (const target of record.targets) {
        if (target.state !== "pending") continue;
        const channel = byId.get(target.id);
        if (!channel) {
          this.deliveries.unsent(record.alert, target, "target no longer configured");
          continue;
        }
        if (channel.unusable !== undefined) {
          this.deliveries.unsent(record.alert, channel, channel.unusable);
          continue;
        }
        const due = target.next_at !== undefined ? Date.parse(target.next_at) : undefined;
        this.deliveries.add(record.alert, channel, target.attempts, due);
      }
    }
    this.prune();
  }

  /** Whether `instance` is the window instance of the fired key's limit at `now`. */
  private isCurrent(key: string, instance: string, now: number): boolean {
    const label = key.slice(key.lastIndexOf("|") + 1, key.lastIndexOf("/"));
    const spec = parseWindow(label);
    if (!spec) return false;
    return windowInstance(spec, now, this.options.ledger.policy.timeZone).key === instance;
  }

  /**
   * Drops fired levels that can no longer matter, and persists the rest: of
   * day and month instances that have ended, of rolling windows that have
   * drained (crossings() re-arms those anyway), of runs the ledger holds
   * nothing for any more, and of limits no longer configured. So marks, like
   * counters, do not grow with identities long idle.
   */
  private prune(): void {
    this.flush(); // a level may be persisted only once its alert is in the outbox
    const now = this.clock();
    for (const [key, fired] of this.fired) if (this.stale(key, fired, now)) this.fired.delete(key);
    for (const key of Object.keys(this.persisted)) if (!this.fired.has(key)) delete this.persisted[key];
    for (const [key, fired] of this.fired) this.persisted[key] = [fired.instance, ...fired.levels];
    this.options.ledger.setMark(FIRED_MARK, this.persisted);
  }

  private stale(key: string, fired: Fired, now: number): boolean {
    const scope = this.options.ledger.policy.scopeById(key.slice(0, key.lastIndexOf("|")));
    const limit = scope?.limits.find((l) => l.kind === "budget" && `${scope.id}|${limitId(l)}` === key);
    if (!scope || !limit) return true;
    const reading = this.reading(scope.id, limit, now);
    if (reading.instance !== fired.instance) return true;
    if (reading.rolling) return reading.spent * 100 < limit.amount * this.lowest;
    if (limit.window.kind === "total") {
      const { spent, reserved } = this.options.ledger.usage(scope.id, limit, now);
      return spent === 0 && reserved === 0;
    }
    return false;
  }

  // --- LedgerObserver: on the request path; cheap, never throws ---

  spent(scopes: readonly Scope[], at: number): void {
    try {
      // A correction to an earlier day (reconcile-spend) counts in that day's windows: the ones that
      // have ended since cannot be warned about any more. (Only old moments can have ended windows.)
      const old = at < this.clock() - OLD_MS;
      for (const scope of scopes) {
        for (const limit of scope.limits) {
          if (limit.kind !== "budget" || (old && this.ended(limit, at))) continue;
          this.check(scope, limit, at);
        }
      }
    } catch (error) {
      this.warn(`alerts: ${String(error)}`);
    }
  }

  decided(decision: Reserved | Block, at: number): void {
    try {
      if (decision.action === "block") {
        // Held by requests in flight is not exhausted: nothing to raise until spend says so.
        if (
          decision.reason === "budget" &&
          decision.breach.scope.kind !== "request" &&
          !decision.breach.inFlight
        )
          this.claim(decision.breach, "stop", at);
        return;
      }
      if (decision.fallbackBecause && decision.fallbackFrom !== undefined) {
        this.claim(decision.fallbackBecause, "fallback", at, decision.fallbackFrom, decision.model.name);
      }
      for (const overrun of decision.overruns) this.claim(overrun, "stop", at);
    } catch (error) {
      this.warn(`alerts: ${String(error)}`);
    }
  }

  // ---

  private ended(limit: Limit, at: number): boolean {
    const end = resetsAt(limit.window, at, this.options.ledger.policy.timeZone);
    return end !== undefined && end <= this.clock();
  }

  private reading(scopeId: string, limit: Limit, at: number): Reading {
    const { ledger } = this.options;
    return {
      spent: ledger.usage(scopeId, limit, at).spent,
      limit: limit.amount,
      cap: capOf(limit, ledger.policy.hardStopPct),
      instance: windowInstance(limit.window, at, ledger.policy.timeZone).key,
      rolling: limit.window.kind === "rolling",
    };
  }

  private check(scope: Pick<Scope, "id" | "kind" | "name">, limit: Limit, at: number): void {
    const key = `${scope.id}|${limitId(limit)}`;
    const fired = this.fired.get(key);
    if (fired === undefined) {
      // The common case: nothing fired yet and below every threshold and the cap.
      const spent = this.options.ledger.usage(scope.id, limit, at).spent;
      if (
        spent * 100 < limit.amount * this.lowest &&
        spent < capOf(limit, this.options.ledger.policy.hardStopPct)
      )
        return;
    }
    const reading = this.reading(scope.id, limit, at);
    this.apply(key, crossings(reading, this.thresholds, fired), scope, limit, reading, at);
  }

  private claim(breach: Breach, level: Level, at: number, model?: string, fallbackModel?: string): void {
    if (breach.limit.kind !== "budget") return;
    const key = `${breach.scope.id}|${limitId(breach.limit)}`;
    const reading = this.reading(breach.scope.id, breach.limit, at);
    const outcome = claim(reading, level, this.fired.get(key));
    this.apply(key, outcome, breach.scope, breach.limit, reading, at, model, fallbackModel);
  }

  private apply(
    key: string,
    outcome: Outcome,
    scope: Pick<Scope, "id" | "kind" | "name">,
    limit: Limit,
    reading: Reading,
    at: number,
    model?: string,
    fallbackModel?: string,
  ): void {
    if (outcome.fired === undefined) this.fired.delete(key);
    else this.fired.set(key, outcome.fired);
    for (const level of outcome.fire) {
      const crossing: Crossing = {
        level,
        scope,
        limit,
        spent: reading.spent,
        at: this.clock(),
        windowAt: at,
        mark: [key, reading.instance, level],
      };
      if (model !== undefined) crossing.model = model;
      if (fallbackModel !== undefined) crossing.fallbackModel = fallbackModel;
      this.enqueue({ crossing });
    }
  }

  private enqueue(item: Queued): void {
    if (this.closed) return;
    this.queue.push(item);
    // Off the request path: built, written and sent once this turn's responses are out.
    this.flushing ??= setImmediate(() => this.flush());
  }

  /** Checks every budget with spend in its current window (start-up; after a config reload). */
  evaluateAll(): void {
    const { ledger } = this.options;
    const now = this.clock();
    for (const status of ledger.status()) {
      const scope = ledger.policy.scopeById(status.scope);
      const limit = scope?.limits.find(
        (l) =>
          l.kind === "budget" &&
          l.unit === status.unit &&
          limitId(l) === `${windowLabel(status.window)}/${status.unit}`,
      );
      if (scope && limit) this.check(scope, limit, now);
    }
  }

  /**
   * Takes a reloaded config's thresholds and targets from the next alert on.
   * Alerts already queued go to the targets they were raised for; the old
   * senders get the alerts' timeout to finish what they are sending. Then
   * every budget is checked again: a limit lowered may have crossed a threshold.
   */
  reconfigure(config: Readonly<Config>): void {
    if (this.closed) return;
    this.flush();
    this.thresholds = alertThresholds(config);
    this.lowest = this.thresholds[0] ?? Number.POSITIVE_INFINITY;
    this.channels = channelsOf(config);
    const retired = this.senders;
    this.senders = createSenders(config);
    const retry = config.alerts.retry;
    this.deliveries.retry = {
      maxAttempts: retry.max_attempts,
      initialDelayMs: retry.initial_delay_ms,
      maxDelayMs: retry.max_delay_ms,
    };
    this.retired.add(retired);
    setTimeout(() => {
      this.retired.delete(retired);
      void retired.close();
    }, config.alerts.timeout_ms + 1000).unref();
    this.evaluateAll();
  }

  /** Raises an alert for another feature (reconcile_drift, pricing_stale). */
  raise(hook: HookAlert): Alert {
    const alert = messageAlert({
      id: randomUUID(),
      event: hook.event,
      at: this.clock(),
      message: hook.message,
      ...(hook.scope ? { scope: hook.scope } : {}),
    });
    this.enqueue({ alert });
    return alert;
  }

  private build(c: Crossing): Alert {
    const { policy } = this.options.ledger;
    const event: AlertEvent =
      c.level === "fallback"
        ? "fallback_engaged"
        : c.level !== "stop"
          ? "budget_threshold_exceeded"
          : policy.rejectOnExceed
            ? "budget_exhausted"
            : "soft_limit_overrun";
    return limitAlert({
      id: randomUUID(),
      event,
      at: c.at,
      scope: c.scope,
      limit: c.limit,
      thresholdPct: typeof c.level === "number" ? c.level : c.level === "stop" ? policy.hardStopPct : null,
      spent: c.spent,
      resetsAt: this.options.ledger.resetsAt(c.scope.id, c.limit.window, c.windowAt),
      model: c.model,
      fallbackModel: c.fallbackModel,
    });
  }

  /**
   * Writes what crossed: the outbox first (the record that it fired and what
   * is owed), then the log, then the fired marks, then hands it to delivery.
   */
  flush(): void {
    this.flushing = undefined;
    if (this.queue.length === 0) return;
    const items = this.queue.splice(0);
    const targets = this.channels.map(({ id, label, kind }) => ({ id, label, kind }));
    const alerts: { alert: Alert; mark?: MarkRef }[] = items.map((item) =>
      "alert" in item
        ? { alert: item.alert }
        : { alert: this.build(item.crossing), mark: item.crossing.mark },
    );
    try {
      this.outbox.write(
        alerts.map(({ alert, mark }) => {
          const record: OutboxRecord = { type: "alert", alert, targets, ...(mark ? { mark } : {}) };
          return JSON.stringify(record);
        }),
      );
    } catch (error) {
      this.warn(`alerts: cannot write the outbox: ${String(error)}`);
      // Crossings not recorded are not persisted as fired either: the next start-up raises them
      // again. An event (the journal's own failure, say) is sent now or never.
      for (const { alert, mark } of alerts) if (!mark) this.deliver(alert);
      return;
    }
    try {
      this.log.write(alerts.map(({ alert }) => logLine(alert)));
    } catch (error) {
      this.warn(`alerts: cannot write ${this.logPath}: ${String(error)}`);
    }
    for (const { mark } of alerts) {
      if (!mark) continue;
      const fired = this.fired.get(mark[0]);
      if (fired) this.persisted[mark[0]] = [fired.instance, ...fired.levels];
    }
    this.options.ledger.setMark(FIRED_MARK, this.persisted);
    for (const { alert } of alerts) this.deliver(alert);
  }

  private deliver(alert: Alert): void {
    for (const channel of this.channels) {
      if (channel.unusable !== undefined) this.deliveries.unsent(alert, channel, channel.unusable);
      else this.deliveries.add(alert, channel);
    }
  }

  /** Delivery attempts queued, waiting for a retry or in flight. */
  get pendingDeliveries(): number {
    return this.deliveries.pending;
  }

  /** Which budgets refused a request in their current window (see refusedByMarks). */
  refused(): Refused {
    this.flush();
    return refusedByMarks(this.persisted, this.options.ledger.policy.timeZone, this.clock());
  }

  /** Delivery attempts given up on (dead letters) since the monitor started. */
  get deadDeliveries(): number {
    return this.deliveries.dead;
  }

  /** Resolves when every delivery has succeeded or given up (tests). */
  async settled(): Promise<void> {
    this.flush();
    await this.deliveries.idle();
  }

  /** Writes what is queued, stops retrying (pending deliveries resume at the next start) and closes files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.options.ledger.observe(undefined);
    if (this.flushing) clearImmediate(this.flushing);
    this.flush();
    this.closed = true;
    clearInterval(this.pruner);
    this.deliveries.close();
    await Promise.all([this.senders, ...this.retired].map((senders) => senders.close()));
    this.retired.clear();
    this.outbox.close();
    this.log.close();
  }
}
