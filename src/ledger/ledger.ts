import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Decision } from "../budget/decide.js";
import type { Identity, Limit, Policy, Scope } from "../budget/policy.js";
import { TokenpakError } from "../errors.js";
import type { Micros } from "../money/money.js";
import { totalTokens, type Usage } from "../pricing/usage.js";
import { type AdjustInput, Books, iso, type ReserveRequest, type SettleInput } from "./booking.js";
import { CORRECTIONS_MARK, Corrections } from "./corrections.js";
import { Counters, isCount } from "./counters.js";
import type { JournalEntry } from "./journal.js";
import { type FsyncPolicy, Journal, type JournalIo, storeUnavailable } from "./journal-writer.js";
import { acquireLock, type LockHandle } from "./lock.js";
import { Marks } from "./marks.js";
import {
  newOverrideId,
  OVERRIDES_MARK,
  type Override,
  type OverrideRequest,
  Overrides,
  planOverride,
} from "./overrides.js";
import { LedgerQueries, type ScopeStatus } from "./queries.js";
import { replayJournal, soundEntry } from "./replay.js";
import { keptWindows, needsRebuild } from "./retention.js";
import {
  type LastSnapshot,
  type LedgerState,
  loadSnapshot,
  rollingLabels,
  SnapshotStore,
  STATE_FILE,
  snapshotDue,
} from "./snapshot.js";
import { budgetStatus, type Judges, type StatusQuery, type StatusReport } from "./status.js";

export type { AdjustInput, ReserveRequest, SettleInput } from "./booking.js";
export type { Override, OverrideRequest } from "./overrides.js";
export type { ScopeStatus } from "./queries.js";

export interface LedgerOptions {
  /** The data directory: state.json, journal/, tokenpak.lock. */
  dir: string;
  policy: Policy;
  fsync?: FsyncPolicy;
  /** A reservation not ended within this long is released by sweep() (default 10 minutes). */
  reservationTtlMs?: number;
  /** How often the state snapshot is rewritten when something changed (default 5 s; 0 = only on close). */
  snapshotIntervalMs?: number;
  clock?: () => number;
  /** Where a snapshot that cannot be written is reported (the daemon: stderr). */
  warn?: (message: string) => void;
  /** The journal's file calls: `node:fs` unless a fault-injection test passes its own. */
  journalIo?: JournalIo;
  /** First wait before the journal writes again after a failure (default 100 ms, doubling up to 5 s). */
  journalRetryMs?: number;
}

/**
 * A breach with the moment its window frees up, for the refusal's `resets_at`,
 * and how much of the window's spend was added by corrections (reconcile-spend).
 */
export type Block = Extract<Decision, { action: "block" }> & { resetsAt?: number; corrected?: Micros };

export type Reserved = Extract<Decision, { action: "allow" }> & {
  requestId: string;
  /** Resolves once the reservation is in the journal: forward upstream only after it. Rejects with
   * `store_unavailable` when it cannot be written. */
  written: Promise<void>;
};

/**
 * Told synchronously of what alerts need, by live operations only (replay
 * tells nothing: what it replays was seen before). Must be cheap and must
 * not throw: it runs inside reserve() and settle().
 */
export interface LedgerObserver {
  /** Settled spend or an adjustment landed in these scopes, in the windows of moment `at`. */
  spent(scopes: readonly Scope[], at: number): void;
  /** reserve() refused, or served on the fallback model or past a soft limit. */
  decided(decision: Reserved | Block, at: number): void;
}

export interface OpenReport {
  replayed: number;
  /** Requests in flight at a crash, now charged at their reservation. */
  recovered: number;
  /** Journal entries whose amounts were not integers (written by an older version): read as their worst case. */
  repaired: number;
  tornBytes: number;
  fullReplay: boolean;
  /** Why the snapshot was not used, when it was not (each also rebuilt the ledger from the journal). */
  warnings: string[];
}

export interface CloseReport {
  /** Requests still in flight when the ledger closed, charged at their reservation. */
  interrupted: number;
}

/** Whether the journal can be written; while not, the ledger admits nothing. */
export interface LedgerHealth {
  writable: boolean;
  /** While not writable: why. */
  error?: string;
  /** While not writable: since when (epoch ms). */
  since?: number;
}

const DEFAULT_TTL_MS = 10 * 60_000;
/** Scope objects the policy may keep cached beyond twice the scopes the counters hold. */
const SCOPES_CACHED = 10_000;

function openDataDir(dir: string): LockHandle {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new TokenpakError("io_error", `cannot create data directory ${dir}: ${e.code ?? e.message}`, {
      dir,
    });
  }
  return acquireLock(dir);
}

/**
 * The spend ledger (file backend). In memory: counters per scope and window,
 * and the open reservations (booking.ts). On disk: the append-only journal,
 * the truth (journal-writer.ts), and a snapshot that is only a cache
 * (snapshot.ts), so start-up replays just the journal's tail (replay.ts).
 * Questions about spend are answered by queries.ts; other features' marks
 * live in marks.ts.
 */
export class Ledger {
  private books: Books;
  private queries: LedgerQueries;
  private readonly marks: Marks;
  private readonly journal: Journal;
  private seq: number;
  private month: string | null;
  private savedSeq: number;
  private snapshotTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();
  private lastSnapshot: LastSnapshot | undefined;
  private snapshotFailing = false;
  private closed = false;
  private observer: LedgerObserver | undefined;
  private spendTap: ((entry: JournalEntry) => void) | undefined;
  private readonly healthListeners = new Set<(health: LedgerHealth) => void>();
  /** Reservations in the journal batch being written. */
  private unconfirmed: string[] = [];
  private downSince: number | undefined;

  private constructor(
    private readonly options: LedgerOptions & { reservationTtlMs: number; snapshotIntervalMs: number },
    private readonly store: SnapshotStore,
    private readonly lock: LockHandle,
    state: LedgerState | null,
    counters: Counters,
    private readonly now: () => number,
  ) {
    this.seq = state?.seq ?? 0;
    this.month = state?.month ?? null;
    this.marks = new Marks(state?.marks ?? {});
    // With counters from the snapshot come its corrections; a full replay rebuilds both.
    const corrections = Corrections.from(
      this.seq > 0 ? this.marks.get(CORRECTIONS_MARK) : undefined,
      options.policy.timeZone,
    );
    this.marks.set(CORRECTIONS_MARK, corrections.table);
    // Likewise the overrides in force: in the snapshot's mark, or rebuilt by replaying them all.
    const overrides = Overrides.from(this.seq > 0 ? this.marks.get(OVERRIDES_MARK) : undefined);
    this.marks.set(OVERRIDES_MARK, overrides);
    this.books = new Books(options.policy, counters, corrections, overrides, now);
    this.queries = new LedgerQueries(this.books);
    this.savedSeq = this.seq;
    for (const r of state?.reservations ?? []) this.books.book(soundEntry(r) as typeof r);
    this.journal = new Journal({
      dir: join(options.dir, "journal"),
      fsync: options.fsync ?? "batch",
      ...(options.journalIo ? { io: options.journalIo } : {}),
      ...(options.journalRetryMs !== undefined ? { retryMs: options.journalRetryMs } : {}),
      onHealth: (failure) => this.journalHealth(failure),
      onBatch: (written) => this.batchEnded(written),
    });
  }

  static async open(options: LedgerOptions): Promise<{ ledger: Ledger; report: OpenReport }> {
    const { dir, policy } = options;
    const lock = openDataDir(dir);
    let ledger: Ledger | undefined;
    try {
      const store = new SnapshotStore(join(dir, STATE_FILE));
      const { state, why, counters } = await loadSnapshot(store, policy, join(dir, "journal"));
      const clock = options.clock ?? Date.now;
      ledger = new Ledger(
        {
          ...options,
          reservationTtlMs: options.reservationTtlMs ?? DEFAULT_TTL_MS,
          snapshotIntervalMs: options.snapshotIntervalMs ?? 5000,
        },
        store,
        lock,
        state,
        counters,
        clock,
      );
      const report = ledger.recover(ledger.seq === 0);
      if (why !== undefined) {
        report.warnings.push(`${why}: rebuilt the ledger from the journal (${report.replayed} entries)`);
      }
      await ledger.snapshot();
      ledger.startSnapshots();
      return { ledger, report };
    } catch (error) {
      ledger?.journal.abandon(); // its timers, and nothing more written
      lock.release();
      throw error;
    }
  }

  /**
   * Replays the journal past the snapshot, then charges reservations nobody
   * ended (in flight at a crash). If those charges cannot be written (a full
   * disk), nothing of them stays in the journal and opening fails.
   */
  private recover(full: boolean): OpenReport {
    const replay = replayJournal(this.journal.dir, this.books, { seq: this.seq, month: this.month }, full);
    this.seq = replay.seq;
    this.month = replay.month;
    const open = [...this.books.reservations.values()];
    const now = this.now();
    for (const r of open) this.record(this.books.chargeEntry(r, now, "recovered"));
    this.journal.flushSync();
    const failure = this.journal.error;
    if (failure !== undefined) throw storeUnavailable(failure, true);
    return {
      replayed: replay.replayed,
      recovered: open.length,
      repaired: replay.repaired,
      tornBytes: replay.tornBytes,
      fullReplay: full,
      warnings: [],
    };
  }

  /**
   * A reservation whose line could not be written was not forwarded (its
   * `written` rejected): nothing is spent, so it is released. The release
   * follows it into the journal once that takes writes again.
   */
  private batchEnded(written: boolean): void {
    if (this.unconfirmed.length === 0) return;
    const ids = this.unconfirmed;
    this.unconfirmed = [];
    if (!written && !this.closed) for (const id of ids) void this.release(id, "store_unavailable");
  }

  private journalHealth(failure: Error | undefined): void {
    this.downSince = failure === undefined ? undefined : this.now();
    const health = this.health;
    for (const listener of this.healthListeners) listener(health);
  }

  /** Whether the journal can be written: while not, reserve() refuses with `store_unavailable`. */
  get writable(): boolean {
    return this.journal.error === undefined;
  }

  /** While the journal cannot be written: the error every request gets (503 `store_unavailable`). */
  get unavailable(): TokenpakError | undefined {
    const failure = this.journal.error;
    return failure === undefined ? undefined : storeUnavailable(failure);
  }

  get health(): LedgerHealth {
    const error = this.journal.error;
    if (error === undefined) return { writable: true };
    return {
      writable: false,
      error: error.message,
      ...(this.downSince !== undefined ? { since: this.downSince } : {}),
    };
  }

  /** Calls `listener` each time the journal stops or starts working again; returns the unsubscribe. */
  onHealth(listener: (health: LedgerHealth) => void): () => void {
    this.healthListeners.add(listener);
    return () => this.healthListeners.delete(listener);
  }

  /** Gives the entry its sequence number and queues it for the journal. */
  private append(entry: JournalEntry): Promise<void> {
    if (this.closed) throw new TokenpakError("internal_error", "ledger is closed");
    entry.seq = ++this.seq;
    this.month = entry.ts.slice(0, 7);
    return this.journal.append(entry);
  }

  /** Applies an entry to memory and journals it. */
  private record(entry: JournalEntry): Promise<void> {
    const written = this.append(entry);
    this.books.apply(entry);
    return written;
  }

  /**
   * Decides the request against every budget and, when it may go ahead,
   * reserves its worst-case cost in every scope — in one synchronous step.
   * Throws `store_unavailable` while the journal cannot be written.
   */
  reserve(request: ReserveRequest): Reserved | Block {
    const refusal = this.unavailable;
    if (refusal !== undefined) throw refusal;
    const now = this.now();
    const booked = this.books.reserve(request, now, this.options.reservationTtlMs);
    if (booked.action === "block") {
      const block = this.withReset(booked.decision, now);
      this.observer?.decided(block, now);
      return block;
    }
    const { decision, entry, reservation } = booked;
    const written = this.append(entry);
    this.unconfirmed.push(request.requestId);
    const reserved: Reserved = {
      action: "allow",
      model: decision.model,
      ...(decision.fallbackFrom !== undefined ? { fallbackFrom: decision.fallbackFrom } : {}),
      ...(decision.fallbackBecause !== undefined ? { fallbackBecause: decision.fallbackBecause } : {}),
      maxOutputTokens: decision.maxOutputTokens,
      clamped: decision.clamped,
      reserve: decision.reserve,
      overruns: decision.overruns,
      requestId: request.requestId,
      written,
    };
    if (reservation.fallbackFrom !== undefined || reservation.overrun !== undefined)
      this.observer?.decided(reserved, now);
    return reserved;
  }

  private withReset(decision: Extract<Decision, { action: "block" }>, now: number): Block {
    const { breach } = decision;
    const at = this.queries.resetsAt(breach.scope.id, breach.limit.window, now);
    const corrected =
      breach.limit.unit === "cents"
        ? this.books.corrections.in(breach.scope.id, breach.limit.window, now)
        : 0;
    return {
      ...decision,
      ...(at !== undefined ? { resetsAt: at } : {}),
      ...(corrected > 0 ? { corrected } : {}),
    };
  }

  /** Replaces the reservation by the real cost; resolves once the settle line is written. */
  settle(requestId: string, input: SettleInput): Promise<void> {
    const r = this.books.reservations.get(requestId);
    if (!r) return Promise.reject(new TokenpakError("internal_error", `no open reservation ${requestId}`));
    if (!isCount(input.cost) || !isUsage(input.usage)) {
      return Promise.reject(
        new TokenpakError("internal_error", `refusing to settle ${requestId} at a non-integer amount`, {
          cost: input.cost,
          usage: input.usage,
        }),
      );
    }
    const entry = this.books.settleEntry(r, input, this.now());
    const written = this.record(entry);
    this.observer?.spent(r.scopes, r.atMs);
    this.spendTap?.(entry);
    return written;
  }

  /** Drops a reservation without charging (nothing was spent: upstream unreachable, refused before sending). */
  release(requestId: string, reason: string): Promise<void> {
    if (!this.books.reservations.has(requestId)) return Promise.resolve();
    return this.record({ type: "release", seq: 0, ts: iso(this.now()), request_id: requestId, reason });
  }

  /**
   * Adds a signed correction (reconcile-spend, manual credit) to every scope
   * of `identity`, in the windows of moment `at` (default now; never later):
   * a correction to last Tuesday changes this month's total, not today's.
   */
  adjust(input: AdjustInput): Promise<void> {
    // Signed, both: a correction takes away as well as adds (the provider counted fewer tokens).
    if (!Number.isSafeInteger(input.cost) || !Number.isSafeInteger(input.tokens ?? 0)) {
      throw new TokenpakError("internal_error", "refusing a non-integer adjustment", { cost: input.cost });
    }
    const { entry, scopes, at } = this.books.adjustEntry(input, this.now());
    const written = this.record(entry);
    this.observer?.spent(scopes, at);
    this.spendTap?.(entry);
    return written;
  }

  /**
   * Who else hears of each settle and adjustment as it is recorded (the
   * metrics); one at a time. The entry is the journal's own: read it, keep
   * nothing of it, and do not throw.
   */
  tap(listener: ((entry: JournalEntry) => void) | undefined): void {
    this.spendTap = listener;
  }

  /** Whom to tell of spend and decisions (the alerts); one at a time. */
  observe(observer: LedgerObserver | undefined): void {
    this.observer = observer;
  }

  get policy(): Policy {
    return this.books.policy;
  }

  /**
   * Enforces a new policy (a config reload, a key created) from the next
   * request on; requests in flight settle in the cells they reserved. When
   * the new limits count in windows the counters did not keep for some scope
   * (a new daily limit on a project, a changed time zone), the counters are
   * rebuilt from the journal first — except for `fresh` scopes (a key just
   * created: it has no spend to miss). Returns how many entries a rebuild
   * replayed, or undefined when none was needed.
   */
  usePolicy(policy: Policy, fresh: ReadonlySet<string> = new Set()): { rebuilt?: number } {
    const old = this.books.policy;
    if (needsRebuild(old, policy, fresh)) return { rebuilt: this.rebuild(policy) };
    this.books.counters.useRollingWindows(policy.rollingWindows);
    this.books.policy = policy;
    return {};
  }

  /** New books for `policy`, from a full replay of the journal; the reservations in flight carry over. */
  private rebuild(policy: Policy): number {
    this.journal.flushSync();
    const failure = this.journal.error;
    if (failure !== undefined) throw storeUnavailable(failure);
    const corrections = Corrections.from(undefined, policy.timeZone);
    const overrides = new Overrides();
    const counters = new Counters(policy.timeZone, policy.rollingWindows);
    const books = new Books(policy, counters, corrections, overrides, this.now);
    const replay = replayJournal(this.journal.dir, books, { seq: 0, month: null }, true, false);
    // What only memory knows of a reservation (a fallback, a soft overrun) goes with it.
    for (const [id, live] of this.books.reservations) {
      const again = books.reservations.get(id);
      if (!again) continue;
      if (live.fallbackFrom !== undefined) again.fallbackFrom = live.fallbackFrom;
      if (live.overrun !== undefined) again.overrun = live.overrun;
    }
    this.books = books;
    this.queries = new LedgerQueries(books);
    this.marks.set(CORRECTIONS_MARK, corrections.table);
    this.marks.set(OVERRIDES_MARK, overrides);
    return replay.replayed;
  }

  /**
   * Journals a budget override and applies it: the next request sees the
   * raised cap. Throws `invalid_argument` naming the field when the scope has
   * no such dollar limit, or the amount or end make no sense.
   */
  async addOverride(request: OverrideRequest): Promise<Override> {
    const now = this.now();
    const planned = planOverride(
      this.policy,
      request,
      now,
      newOverrideId((id) => this.books.overrides.get(id) !== undefined),
    );
    await this.record({
      type: "override",
      seq: 0,
      ts: iso(now),
      id: planned.id,
      scope: planned.scope,
      ...(planned.window !== undefined ? { window: planned.window } : {}),
      add: planned.micros,
      until: iso(planned.until),
      reason: planned.reason,
      by: planned.by,
    });
    return planned;
  }

  /** Ends an override in force now; `not_found` for one unknown or already ended. */
  async cancelOverride(id: string, by: string): Promise<Override> {
    const now = this.now();
    const o = this.books.overrides.get(id);
    if (!o || o.until <= now) {
      throw new TokenpakError(
        "not_found",
        `no override ${id} in force (list them: tokenpak budget override --list)`,
        {
          id,
        },
      );
    }
    await this.record({ type: "override_cancel", seq: 0, ts: iso(now), id, by });
    return o;
  }

  /** The overrides in force now, soonest to end first. */
  overrides(): Override[] {
    return this.books.overrides.active(this.now());
  }

  /** The safety net: releases reservations past their TTL (a bug upstream of us forgot them). */
  sweep(): number {
    const now = this.now();
    let n = 0;
    for (const r of this.books.reservations.values()) {
      if (r.expiresAt <= now) {
        void this.release(r.id, "expired");
        n++;
      }
    }
    return n;
  }

  get openReservations(): number {
    return this.books.reservations.size;
  }

  /** Spend and utilisation of every limit of the scopes `ids` (default: those with counters or an override), now. */
  status(ids?: Iterable<string>): ScopeStatus[] {
    return this.queries.status(this.now(), ids);
  }

  /** Every budget that applies now, most urgent first, with the reservations in flight (`tokenpak status`). */
  budgetStatus(query: StatusQuery = {}, judges?: Judges): StatusReport {
    return budgetStatus(this.queries, this.policy, query, this.now(), "daemon", judges);
  }

  /**
   * What the tightest dollar limit of a request's scopes still allows (µ¢),
   * after what is spent and reserved; undefined when none has a dollar limit.
   */
  remaining(identity: Identity, model: string): Micros | undefined {
    return this.queries.remaining(identity, model, this.now());
  }

  /** Usage of one scope's limit in the window of `at` (default now). */
  usage(scopeId: string, limit: Limit, at: number = this.now()) {
    return this.queries.usage(scopeId, limit, at);
  }

  /** When the window of `limit` in scope `scopeId` frees up, seen at `at` (default now). */
  resetsAt(scopeId: string, window: Limit["window"], at: number = this.now()): number | undefined {
    return this.queries.resetsAt(scopeId, window, at);
  }

  mark(name: string): unknown {
    return this.marks.get(name);
  }

  setMark(name: string, value: unknown): void {
    this.marks.set(name, value);
  }

  private startSnapshots(): void {
    const every = this.options.snapshotIntervalMs;
    if (every <= 0) return;
    this.snapshotTimer = setInterval(() => {
      const changed = this.seq !== this.savedSeq || this.marks.dirty;
      if (changed && snapshotDue(performance.now(), this.lastSnapshot)) void this.snapshot();
    }, every);
    this.snapshotTimer.unref();
  }

  /**
   * Writes state.json (durably: see snapshot.ts), after dropping windows that
   * can no longer matter. The journal is flushed first and the state captured
   * in the same synchronous step, so the snapshot never claims an entry the
   * journal does not have — and while the journal cannot be written, no
   * snapshot is taken at all. A snapshot that cannot be written is reported
   * and left to the next one: the journal has everything.
   */
  snapshot(): Promise<void> {
    const run = async () => {
      const begun = performance.now();
      this.journal.flushSync();
      if (this.journal.error !== undefined) return;
      const now = this.now();
      const { policy } = this.books;
      this.books.counters.prune(now, keptWindows(policy, now));
      policy.forgetScopes(Math.max(SCOPES_CACHED, 2 * this.books.counters.size));
      const state: LedgerState = {
        version: 1,
        seq: this.seq,
        month: this.month,
        timezone: policy.timeZone,
        rolling: rollingLabels(policy),
        windows: policy.windowsKey,
        saved_at: iso(now),
        counters: this.books.counters.toJSON(),
        reservations: this.books.openEntries(),
        marks: this.marks.take(),
      };
      const seq = this.seq;
      try {
        await this.store.write(state).finally(() => {
          this.lastSnapshot = { endedAt: performance.now(), tookMs: performance.now() - begun };
        });
        this.savedSeq = seq;
        if (this.snapshotFailing) this.options.warn?.(`${this.store.path} is written again`);
        this.snapshotFailing = false;
      } catch (error) {
        this.marks.restore();
        if (!this.snapshotFailing) {
          const e = error as NodeJS.ErrnoException;
          this.options.warn?.(
            `cannot write ${this.store.path} (${e.code ?? e.message}); the journal has everything, retrying with the next snapshot`,
          );
        }
        this.snapshotFailing = true;
      }
    };
    this.saving = this.saving.then(run, run);
    return this.saving;
  }

  /** Stops as kill -9 would: no flush, no snapshot, lock left behind (crash tests). */
  abandon(): void {
    if (this.snapshotTimer) clearInterval(this.snapshotTimer);
    this.closed = true;
    this.journal.abandon();
    this.lock.abandon();
  }

  /**
   * Charges what is still in flight at its reservation (`interrupted`: the
   * next start has no crash to recover from), flushes, snapshots, and lets go
   * of the data directory. Throws `store_unavailable` when the journal could
   * not be written to the end.
   */
  async close(): Promise<CloseReport> {
    if (this.closed) return { interrupted: 0 };
    if (this.snapshotTimer) clearInterval(this.snapshotTimer);
    const open = [...this.books.reservations.values()];
    const now = this.now();
    for (const r of open) void this.record(this.books.chargeEntry(r, now, "interrupted"));
    await this.snapshot();
    this.closed = true;
    try {
      this.journal.close();
    } finally {
      this.lock.release();
    }
    return { interrupted: open.length };
  }
}

/** Every count of a usage, and their total, a non-negative safe integer: checked before anything is journaled. */
function isUsage(u: Usage): boolean {
  return (
    isCount(u.input) &&
    isCount(u.cached_input) &&
    isCount(u.cache_write) &&
    isCount(u.cache_write_1h) &&
    isCount(u.output) &&
    isCount(u.reasoning) &&
    isCount(totalTokens(u))
  );
}
