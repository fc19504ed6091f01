import type { Alert } from "./alert.js";
import type { AppendFile } from "./append-file.js";
import type { Channel } from "./channels.js";
import { deliveryLine } from "./format.js";
import type { OutboxRecord } from "./outbox.js";

export interface RetrySettings {
  /** Attempts per target, the first included. */
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

/**
 * The wait after `failures` failed attempts: doubling from the initial delay
 * up to the maximum, half of it fixed and half random ("equal jitter"), so
 * many alerts failing together do not retry in lockstep. `random` is in [0, 1).
 */
export function backoffMs(failures: number, retry: RetrySettings, random: number): number {
  const full = Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** Math.max(0, failures - 1));
  return Math.round(full / 2 + (full / 2) * random);
}

export type Send = (channel: Channel, alert: Alert, attempt: number) => Promise<void>;

export interface DeliveryOptions {
  outbox: AppendFile;
  log: AppendFile;
  send: Send;
  retry: RetrySettings;
  clock: () => number;
  random?: () => number;
  /** Attempts in flight per target: a hanging receiver holds up only its own queue. */
  concurrency?: number;
  /** Where it is said that the outbox or log cannot be written (once, until they can again). */
  warn?: (message: string) => void;
}

interface Job {
  alert: Alert;
  channel: Channel;
  /** Attempts made so far (in this process or before a restart). */
  attempts: number;
}

interface Lane {
  ready: Job[];
  head: number;
  inFlight: number;
}

/**
 * Delivers alerts to their channels at least once: every attempt's outcome is
 * appended to the outbox, a failure is retried with backoff until the
 * attempts run out (then a dead-letter record and a DEAD log line). Runs on
 * timers and sockets only; nothing here is awaited by a proxied request.
 */
export class Deliveries {
  private readonly lanes = new Map<string, Lane>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly idleWaiters: (() => void)[] = [];
  private closed = false;
  private writeFailing = false;
  /** Deliveries given up on since this started (dead letters). */
  dead = 0;

  /** How failures are retried: a reloaded config's from the next failure on. */
  retry: RetrySettings;

  constructor(private readonly options: DeliveryOptions) {
    this.retry = options.retry;
  }

  /** Queues one channel of an alert; `dueAt` (epoch ms) delays it, as a restart does for a retry not yet due. */
  add(alert: Alert, channel: Channel, attempts = 0, dueAt?: number): void {
    if (this.closed) return;
    const job: Job = { alert, channel, attempts };
    const wait = dueAt === undefined ? 0 : dueAt - this.options.clock();
    if (wait > 0) this.later(job, wait);
    else this.enqueue(job);
  }

  /** Records that a channel cannot take this alert, and logs why. */
  unsent(alert: Alert, channel: Pick<Channel, "id" | "label">, reason: string): void {
    const at = new Date(this.options.clock()).toISOString();
    this.record({
      type: "attempt",
      id: alert.id,
      target: channel.id,
      n: 0,
      at,
      result: "unsent",
      error: reason,
    });
    this.write(this.options.log, deliveryLine(at, "UNSENT", alert, channel.label, 0, reason));
  }

  /** Attempts queued, waiting for a retry or in flight. */
  get pending(): number {
    let n = this.timers.size;
    for (const lane of this.lanes.values()) n += lane.ready.length - lane.head + lane.inFlight;
    return n;
  }

  /** Resolves when nothing is queued, waiting or in flight (tests, `alerts test`). */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops retrying. Attempts in flight are left to the sender's close: unconfirmed, they stay pending in the outbox. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.lanes.clear();
  }

  private later(job: Job, ms: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.enqueue(job);
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  private enqueue(job: Job): void {
    if (this.closed) return;
    let lane = this.lanes.get(job.channel.id);
    if (!lane) {
      lane = { ready: [], head: 0, inFlight: 0 };
      this.lanes.set(job.channel.id, lane);
    }
    lane.ready.push(job);
    this.pump(lane);
  }

  private pump(lane: Lane): void {
    const limit = this.options.concurrency ?? 4;
    while (lane.inFlight < limit && lane.head < lane.ready.length) {
      const job = lane.ready[lane.head] as Job;
      lane.head++;
      void this.attempt(lane, job);
    }
    if (lane.head > 1024 && lane.head * 2 > lane.ready.length) {
      lane.ready = lane.ready.slice(lane.head);
      lane.head = 0;
    }
  }

  private async attempt(lane: Lane, job: Job): Promise<void> {
    lane.inFlight++;
    const n = job.attempts + 1;
    const { alert, channel } = job;
    try {
      await this.options.send(channel, alert, n);
      this.record({
        type: "attempt",
        id: alert.id,
        target: channel.id,
        n,
        at: this.now(),
        result: "delivered",
      });
    } catch (error) {
      if (!this.closed) this.failed(job, n, error instanceof Error ? error.message : String(error));
    } finally {
      lane.inFlight--;
      if (!this.closed) this.pump(lane);
      if (this.pending === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private failed(job: Job, n: number, error: string): void {
    const { alert, channel } = job;
    const { retry } = this;
    const now = this.options.clock();
    const at = new Date(now).toISOString();
    if (n >= retry.maxAttempts) {
      this.dead++;
      this.record({ type: "attempt", id: alert.id, target: channel.id, n, at, result: "dead", error });
      this.write(this.options.log, deliveryLine(at, "DEAD", alert, channel.label, n, error));
      return;
    }
    const wait = backoffMs(n, retry, (this.options.random ?? Math.random)());
    const nextAt = new Date(now + wait).toISOString();
    this.record({
      type: "attempt",
      id: alert.id,
      target: channel.id,
      n,
      at,
      result: "failed",
      error,
      next_at: nextAt,
    });
    this.later({ ...job, attempts: n }, wait);
  }

  private now(): string {
    return new Date(this.options.clock()).toISOString();
  }

  private record(record: OutboxRecord): void {
    this.write(this.options.outbox, JSON.stringify(record));
  }

  /**
   * Delivery goes on when a record cannot be written (a full disk): a lost
   * attempt record only means the alert may be sent once more after a restart.
   */
  private write(file: AppendFile, line: string): void {
    try {
      file.write([line]);
      this.writeFailing = false;
    } catch (error) {
      if (!this.writeFailing) this.options.warn?.(`alerts: cannot write ${file.path}: ${String(error)}`);
      this.writeFailing = true;
    }
  }
}
