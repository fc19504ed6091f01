import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { DataFile } from "lowdb/node";
import {
  type Amounts,
  type Breach,
  capOf,
  type Decision,
  decide,
  type ModelChoice,
} from "../budget/decide.js";
import type { Identity, Policy, Scope } from "../budget/policy.js";
import { resetsAt as calendarResetsAt } from "../budget/windows.js";
import { TokenpakError } from "../errors.js";
import type { Micros } from "../money/money.js";
import { NO_USAGE, totalTokens, type Usage } from "../pricing/usage.js";
import { CORRECTIONS_MARK, Corrections } from "./corrections.js";
import { type Cell, Counters, type CountersSnapshot } from "./counters.js";
import {
  type EntryIdentity,
  type FsyncPolicy,
  Journal,
  type JournalEntry,
  type ReconcileRef,
  readJournal,
} from "./journal.js";
import { acquireLock } from "./lock.js";

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
}

export interface ReserveRequest {
  requestId: string;
  identity: Identity;
  model: ModelChoice;
  fallback?: ModelChoice | undefined;
  inputTokens: number;
  requestedMaxTokens?: number | undefined;
  /** Answers per request (OpenAI `n`): the output reservation counts each. */
  choices?: number | undefined;
}

/**
 * A breach with the moment its window frees up, for the refusal's `resets_at`,
 * and how much of the window's spend was added by corrections (reconcile-spend).
 */
export type Block = Extract<Decision, { action: "block" }> & { resetsAt?: number; corrected?: Micros };

export type Reserved = Extract<Decision, { action: "allow" }> & {
  requestId: string;
  /** Resolves once the reservation is in the journal: forward upstream only after it. */
  written: Promise<void>;
};

export interface SettleInput {
  usage: Usage;
  cost: Micros;
  /** ok | upstream_error | upstream_timeout | aborted | usage_invalid | … (see JournalEntry) */
  status: string;
  /** Why it was charged as it was, when that is not the provider's usage. */
  note?: string | undefined;
  /** Built-in tool calls (Responses API) charged besides the tokens, by kind. */
  tool_calls?: Record<string, number> | undefined;
}

interface Reservation {
  id: string;
  identity: EntryIdentity;
  model: string;
  provider: string;
  /** The scopes it is booked in (the observer is told of them without parsing ids). */
  scopes: readonly Scope[];
  cells: Cell[];
  amounts: Amounts;
  /** When it was booked: its cells are that moment's windows, and its spend counts there. */
  at: string;
  atMs: number;
  expiresAt: number;
  fallbackFrom?: string;
  overrun?: string[];
}

interface LedgerState {
  version: 1;
  /** The last journal entry this snapshot includes. */
  seq: number;
  /** Journal month of that entry, so replay can skip older files. */
  month: string | null;
  timezone: string;
  rolling: string[];
  saved_at: string;
  counters: CountersSnapshot;
  /** Reservations open at `seq`; booked again on load. */
  reservations: Extract<JournalEntry, { type: "reserve" }>[];
  /** Named facts later features keep with the ledger (alerts fired, reconciliation marks). */
  marks: Record<string, unknown>;
}

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
  recovered: number;
  tornBytes: number;
  fullReplay: boolean;
  /** Journal entries whose amounts were not integers (written by an older version): read as their worst case. */
  repaired: number;
  /** Set when state.json could not be used and the journal was replayed whole instead. */
  snapshotProblem?: string;
}

const DEFAULT_TTL_MS = 10 * 60_000;

function identityOf(scopes: readonly Scope[], identity: Identity): EntryIdentity {
  const out: EntryIdentity = {};
  if (identity.key !== undefined) out.key = identity.key;
  if (identity.user !== undefined) out.user = identity.user;
  if (identity.project !== undefined) out.project = identity.project;
  const team = scopes.find((s) => s.kind === "team")?.name;
  if (team !== undefined) out.team = team;
  if (identity.run !== undefined) out.run = identity.run;
  return out;
}

/** The identity as recorded: a missing team means none, not "look it up again". */
function recorded(e: EntryIdentity): Identity {
  return { key: e.key, user: e.user, project: e.project, team: e.team ?? null, run: e.run };
}

// Under load many entries share a millisecond; two slots serve both `ts` and `expires_at`.
const isoCache: [number, string][] = [
  [Number.NaN, ""],
  [Number.NaN, ""],
];
let isoSlot = 0;
function iso(ms: number): string {
  for (const [cachedMs, text] of isoCache) if (cachedMs === ms) return text;
  const text = new Date(ms).toISOString();
  isoCache[isoSlot] = [ms, text];
  isoSlot ^= 1;
  return text;
}

/**
 * The spend ledger (file backend). In memory: counters per scope and window,
 * and the open reservations. On disk: the append-only journal (the truth) and
 * a coalesced snapshot (state.json) so start-up replays only the tail.
 *
 * Node runs one request's synchronous code at a time, so `reserve` — decide
 * and book in every scope — is atomic: concurrent requests cannot both take
 * the last dollar.
 */
export class Ledger {
  private readonly counters: Counters;
  private readonly reservations = new Map<string, Reservation>();
  private seq: number;
  private month: string | null;
  private marks: Record<string, unknown>;
  private readonly corrections: Corrections;
  private savedSeq: number;
  private snapshotTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();
  private closed = false;
  private observer: LedgerObserver | undefined;
  /** Why the snapshot was not used, when it could not be. */
  private snapshotProblem: string | undefined;

  private constructor(
    private readonly options: Required<Omit<LedgerOptions, "fsync">>,
    private readonly journal: Journal,
    private readonly db: DataFile<LedgerState>,
    private readonly releaseLock: () => void,
    state: LedgerState | null,
    private readonly now: () => number,
  ) {
    const { policy } = options;
    let compatible =
      state !== null &&
      state.timezone === policy.timeZone &&
      state.rolling.join(",") === rollingLabels(policy).join(",");
    let counters: Counters | undefined;
    if (compatible && state) {
      try {
        counters = Counters.fromJSON(state.counters, policy.timeZone, policy.rollingWindows);
      } catch (error) {
        // The snapshot is only a cache of the journal: a bad one is rebuilt from it.
        compatible = false;
        this.snapshotProblem = String(error instanceof Error ? error.message : error);
      }
    }
    this.counters = counters ?? new Counters(policy.timeZone, policy.rollingWindows);
    const usable = compatible ? state : null;
    this.seq = usable?.seq ?? 0;
    this.month = usable?.month ?? null;
    this.marks = state?.marks ?? {};
    // Rebuilt by the full replay when the snapshot's counters are not used.
    this.corrections = Corrections.from(
      compatible ? this.marks[CORRECTIONS_MARK] : undefined,
      policy.timeZone,
    );
    this.marks[CORRECTIONS_MARK] = this.corrections.table;
    this.savedSeq = this.seq;
    for (const r of usable?.reservations ?? []) this.applyReserve(soundEntry(r) as typeof r);
  }

  static async open(options: LedgerOptions): Promise<{ ledger: Ledger; report: OpenReport }> {
    const dir = options.dir;
    mkdirSync(dir, { recursive: true });
    const releaseLock = acquireLock(dir);
    try {
      const db = new DataFile<LedgerState>(join(dir, "state.json"), {
        parse: JSON.parse,
        stringify: JSON.stringify,
      });
      let state: LedgerState | null = null;
      if (existsSync(join(dir, "state.json"))) {
        try {
          state = await db.read();
        } catch (cause) {
          throw new TokenpakError(
            "ledger_corrupt",
            `cannot read ${join(dir, "state.json")}: ${String(cause)}`,
          );
        }
      }
      const clock = options.clock ?? Date.now;
      const journal = new Journal(join(dir, "journal"), options.fsync ?? "batch");
      const ledger = new Ledger(
        {
          dir,
          policy: options.policy,
          reservationTtlMs: options.reservationTtlMs ?? DEFAULT_TTL_MS,
          snapshotIntervalMs: options.snapshotIntervalMs ?? 5000,
          clock,
        },
        journal,
        db,
        releaseLock,
        state,
        clock,
      );
      const report = ledger.recover(state === null || ledger.seq === 0);
      await ledger.snapshot();
      ledger.startSnapshots();
      return { ledger, report };
    } catch (error) {
      releaseLock();
      throw error;
    }
  }

  /** Replays the journal past the snapshot, then charges reservations nobody ended (in flight at a crash). */
  private recover(full: boolean): OpenReport {
    const fromSeq = this.seq;
    let replayed = 0;
    let repaired = 0;
    const result = readJournal(
      this.journal.dir,
      (entry) => {
        if (entry.seq <= fromSeq) return;
        const sound = soundEntry(entry);
        if (sound !== entry) repaired++;
        this.apply(sound);
        this.seq = entry.seq;
        this.month = entry.ts.slice(0, 7);
        replayed++;
      },
      { repair: true, afterSeq: fromSeq, ...(full || this.month === null ? {} : { fromMonth: this.month }) },
    );
    const open = [...this.reservations.values()];
    const now = this.now();
    for (const r of open) {
      this.record({
        type: "settle",
        seq: 0,
        ts: iso(now),
        request_id: r.id,
        ...r.identity,
        provider: r.provider,
        model: r.model,
        usage: { ...NO_USAGE },
        cost: r.amounts.micros,
        tokens: r.amounts.tokens,
        reserved: r.amounts.micros,
        status: "recovered",
        reserved_at: r.at,
      });
    }
    this.journal.flushSync();
    return {
      replayed,
      recovered: open.length,
      tornBytes: result.tornBytes,
      fullReplay: full,
      repaired,
      ...(this.snapshotProblem !== undefined ? { snapshotProblem: this.snapshotProblem } : {}),
    };
  }

  /** Applies one entry to memory. Live operations and replay both go through here, so they cannot disagree. */
  private apply(entry: JournalEntry): void {
    switch (entry.type) {
      case "reserve":
        this.applyReserve(entry);
        return;
      case "settle": {
        const r = this.reservations.get(entry.request_id);
        const amounts = { micros: entry.cost, tokens: entry.tokens, requests: 1 };
        if (r) {
          // Spend lands in the very cells the reservation held: the windows of its moment.
          this.counters.unreserve(r.cells, r.amounts);
          this.counters.addToCells(r.cells, amounts, r.atMs);
          this.reservations.delete(entry.request_id);
        } else {
          const at = Date.parse(entry.reserved_at ?? entry.ts);
          this.counters.add(this.scopeIdsOf(entry, entry.model), amounts, at);
        }
        return;
      }
      case "release": {
        const r = this.reservations.get(entry.request_id);
        if (r) {
          this.counters.unreserve(r.cells, r.amounts);
          this.reservations.delete(entry.request_id);
        }
        return;
      }
      case "adjust": {
        const ids = this.scopeIdsOf(entry, entry.model ?? "");
        const at = Date.parse(entry.at ?? entry.ts);
        this.counters.add(ids, { micros: entry.cost, tokens: entry.tokens, requests: 0 }, at);
        this.corrections.add(ids, entry.cost, at, this.now());
        return;
      }
    }
  }

  private applyReserve(
    entry: Extract<JournalEntry, { type: "reserve" }>,
    scopes: readonly Scope[] = this.scopesOf(entry, entry.model),
    ts: number = Date.parse(entry.ts),
    expiresAt: number = Date.parse(entry.expires_at),
    identity: EntryIdentity = pickIdentity(entry),
  ): Reservation {
    const cells = this.counters.reserve(
      scopes.map((s) => s.id),
      entry.reserved,
      ts,
    );
    const r: Reservation = {
      id: entry.request_id,
      identity,
      model: entry.model,
      provider: entry.provider,
      scopes,
      cells,
      amounts: entry.reserved,
      at: entry.ts,
      atMs: ts,
      expiresAt,
    };
    this.reservations.set(entry.request_id, r);
    return r;
  }

  private scopesOf(e: EntryIdentity, model: string): readonly Scope[] {
    return this.options.policy.scopesFor(recorded(e), model);
  }

  private scopeIdsOf(e: EntryIdentity, model: string): string[] {
    return this.scopesOf(e, model).map((s) => s.id);
  }

  /** Gives the entry its sequence number and queues it for the journal. */
  private append(entry: JournalEntry): Promise<void> {
    if (this.closed) throw new TokenpakError("internal", "ledger is closed");
    entry.seq = ++this.seq;
    this.month = entry.ts.slice(0, 7);
    return this.journal.append(entry);
  }

  /** Applies an entry to memory and journals it. */
  private record(entry: JournalEntry): Promise<void> {
    const written = this.append(entry);
    this.apply(entry);
    return written;
  }

  /**
   * Decides the request against every budget and, when it may go ahead,
   * reserves its worst-case cost in every scope — in one synchronous step.
   */
  reserve(request: ReserveRequest): Reserved | Block {
    const now = this.now();
    const { policy } = this.options;
    if (this.reservations.has(request.requestId)) {
      throw new TokenpakError("internal", `request id ${request.requestId} is already reserved`);
    }
    const scopes = policy.scopesFor(request.identity, request.model.name);
    const fallback = request.fallback;
    let fallbackScopes: readonly Scope[] | undefined;
    const decision = decide(
      {
        scopes,
        inputTokens: request.inputTokens,
        requestedMaxTokens: request.requestedMaxTokens,
        choices: request.choices,
        model: request.model,
        fallback,
        fallbackScopes: () => {
          fallbackScopes ??= fallback ? policy.scopesFor(request.identity, fallback.name) : scopes;
          return fallbackScopes;
        },
      },
      (scope, limit) => this.counters.usage(scope.id, limit, now),
      policy,
    );
    if (decision.action === "block") {
      const block = this.withReset(decision, now);
      this.observer?.decided(block, now);
      return block;
    }

    const model = decision.model;
    const booked = decision.fallbackFrom !== undefined && fallbackScopes ? fallbackScopes : scopes;
    const ts = iso(now);
    const expiresAt = now + this.options.reservationTtlMs;
    const identity = identityOf(booked, request.identity);
    const entry: Extract<JournalEntry, { type: "reserve" }> = {
      type: "reserve",
      seq: 0,
      ts,
      request_id: request.requestId,
      ...identity,
      provider: model.provider,
      model: model.name,
      reserved: decision.reserve,
      expires_at: iso(expiresAt),
    };
    const written = this.append(entry);
    const r = this.applyReserve(entry, booked, now, expiresAt, identity);
    if (decision.fallbackFrom !== undefined) r.fallbackFrom = decision.fallbackFrom;
    if (decision.overruns.length > 0) r.overrun = decision.overruns.map((b) => b.scope.id);
    const reserved: Reserved = {
      action: "allow",
      model,
      ...(decision.fallbackFrom !== undefined ? { fallbackFrom: decision.fallbackFrom } : {}),
      ...(decision.fallbackBecause !== undefined ? { fallbackBecause: decision.fallbackBecause } : {}),
      maxOutputTokens: decision.maxOutputTokens,
      clamped: decision.clamped,
      reserve: decision.reserve,
      overruns: decision.overruns,
      requestId: request.requestId,
      written,
    };
    if (r.fallbackFrom !== undefined || r.overrun !== undefined) this.observer?.decided(reserved, now);
    return reserved;
  }

  private withReset(decision: Extract<Decision, { action: "block" }>, now: number): Block {
    const { breach } = decision;
    const at =
      breach.limit.window.kind === "rolling"
        ? this.counters.rollingResetsAt(breach.scope.id, breach.limit.window, now)
        : calendarResetsAt(breach.limit.window, now, this.options.policy.timeZone);
    const corrected =
      breach.limit.unit === "cents" ? this.corrections.in(breach.scope.id, breach.limit.window, now) : 0;
    return {
      ...decision,
      ...(at !== undefined ? { resetsAt: at } : {}),
      ...(corrected > 0 ? { corrected } : {}),
    };
  }

  /** Replaces the reservation by the real cost; resolves once the settle line is written. */
  settle(requestId: string, input: SettleInput): Promise<void> {
    const r = this.reservations.get(requestId);
    if (!r) return Promise.reject(new TokenpakError("internal", `no open reservation ${requestId}`));
    const tokens = totalTokens(input.usage);
    if (!isCount(input.cost) || !isCount(tokens) || !Object.values(input.usage).every(isCount)) {
      return Promise.reject(
        new TokenpakError("internal", `refusing to settle ${requestId} at a non-integer amount`, {
          cost: input.cost,
          usage: input.usage,
        }),
      );
    }
    const entry: Extract<JournalEntry, { type: "settle" }> = {
      type: "settle",
      seq: 0,
      ts: iso(this.now()),
      request_id: requestId,
      ...r.identity,
      provider: r.provider,
      model: r.model,
      usage: input.usage,
      cost: input.cost,
      tokens,
      reserved: r.amounts.micros,
      status: input.status,
      ...(input.note !== undefined ? { note: input.note } : {}),
      ...(input.tool_calls !== undefined ? { tool_calls: input.tool_calls } : {}),
      reserved_at: r.at,
      ...(r.fallbackFrom !== undefined ? { fallback_from: r.fallbackFrom } : {}),
      ...(r.overrun !== undefined ? { overrun: r.overrun } : {}),
    };
    const written = this.record(entry);
    this.observer?.spent(r.scopes, r.atMs);
    return written;
  }

  /** Drops a reservation without charging (nothing was spent: upstream unreachable, refused before sending). */
  release(requestId: string, reason: string): Promise<void> {
    if (!this.reservations.has(requestId)) return Promise.resolve();
    return this.record({ type: "release", seq: 0, ts: iso(this.now()), request_id: requestId, reason });
  }

  /**
   * Adds a signed correction (reconcile-spend, manual credit) to every scope
   * of `identity`, in the windows of moment `at` (default now; never later):
   * a correction to last Tuesday changes this month's total, not today's.
   */
  adjust(input: {
    identity: Identity;
    model?: string;
    provider?: string;
    cost: Micros;
    tokens?: number;
    reason: string;
    source?: string;
    at?: number;
    reconcile?: ReconcileRef;
  }): Promise<void> {
    // Signed, both: a correction takes away as well as adds (the provider counted fewer tokens).
    if (!Number.isSafeInteger(input.cost) || !Number.isSafeInteger(input.tokens ?? 0)) {
      throw new TokenpakError("internal", "refusing a non-integer adjustment", { cost: input.cost });
    }
    const scopes = this.options.policy.scopesFor(input.identity, input.model ?? "");
    const now = this.now();
    const at = Math.min(input.at ?? now, now);
    const written = this.record({
      type: "adjust",
      seq: 0,
      ts: iso(now),
      ...identityOf(scopes, input.identity),
      ...(input.model !== undefined ? { model: input.model } : {}),
      ...(input.provider !== undefined ? { provider: input.provider } : {}),
      cost: input.cost,
      tokens: input.tokens ?? 0,
      reason: input.reason,
      ...(input.source !== undefined ? { source: input.source } : {}),
      ...(at !== now ? { at: new Date(at).toISOString() } : {}),
      ...(input.reconcile !== undefined ? { reconcile: input.reconcile } : {}),
    });
    this.observer?.spent(scopes, at);
    return written;
  }

  /** Whom to tell of spend and decisions (the alerts); one at a time. */
  observe(observer: LedgerObserver | undefined): void {
    this.observer = observer;
  }

  get policy(): Policy {
    return this.options.policy;
  }

  /** The safety net: releases reservations past their TTL (a bug upstream of us forgot them). */
  sweep(): number {
    const now = this.now();
    let n = 0;
    for (const r of this.reservations.values()) {
      if (r.expiresAt <= now) {
        void this.release(r.id, "expired");
        n++;
      }
    }
    return n;
  }

  get openReservations(): number {
    return this.reservations.size;
  }

  /** Spend and utilisation of every scope that has limits, now. */
  status(): ScopeStatus[] {
    const now = this.now();
    const { policy } = this.options;
    const out: ScopeStatus[] = [];
    for (const id of this.counters.scopeIds()) {
      const scope = policy.scopeById(id);
      if (!scope) continue;
      for (const limit of scope.limits) {
        const u = this.counters.usage(scope.id, limit, now);
        const cap = capOf(limit, policy.hardStopPct);
        const resets =
          limit.window.kind === "rolling"
            ? this.counters.rollingResetsAt(scope.id, limit.window, now)
            : calendarResetsAt(limit.window, now, policy.timeZone);
        out.push({
          scope: scope.id,
          kind: scope.kind,
          name: scope.name,
          window: limit.window,
          unit: limit.unit,
          limit: limit.amount,
          cap,
          spent: u.spent,
          reserved: u.reserved,
          pct: limit.amount > 0 ? (u.spent / limit.amount) * 100 : 0,
          ...(resets !== undefined ? { resetsAt: resets } : {}),
        });
      }
    }
    return out;
  }

  /**
   * What the tightest dollar limit of a request's scopes still allows (µ¢),
   * after what is spent and reserved; undefined when none has a dollar limit.
   */
  remaining(identity: Identity, model: string): Micros | undefined {
    const now = this.now();
    let least: number | undefined;
    for (const scope of this.options.policy.scopesFor(identity, model)) {
      for (const limit of scope.limits) {
        if (limit.unit !== "cents" || limit.kind !== "budget") continue;
        const u = this.counters.usage(scope.id, limit, now);
        const room = capOf(limit, this.options.policy.hardStopPct) - u.spent - u.reserved;
        if (least === undefined || room < least) least = room;
      }
    }
    return least === undefined ? undefined : Math.max(0, least);
  }

  /** Usage of one scope's limit in the window of `at` (default now). */
  usage(scopeId: string, limit: Parameters<Counters["usage"]>[1], at: number = this.now()) {
    return this.counters.usage(scopeId, limit, at);
  }

  mark(name: string): unknown {
    return this.marks[name];
  }

  setMark(name: string, value: unknown): void {
    this.marks[name] = value;
    this.savedSeq = -1; // force the next snapshot
  }

  private startSnapshots(): void {
    const every = this.options.snapshotIntervalMs;
    if (every <= 0) return;
    this.snapshotTimer = setInterval(() => {
      if (this.seq !== this.savedSeq) void this.snapshot();
    }, every);
    this.snapshotTimer.unref();
  }

  /**
   * Writes state.json (atomically: temp file + rename). The journal is flushed
   * first and the state captured in the same synchronous step, so the
   * snapshot never claims an entry the journal does not have.
   */
  snapshot(): Promise<void> {
    const run = async () => {
      this.journal.flushSync();
      const now = this.now();
      this.counters.prune(now);
      const state: LedgerState = {
        version: 1,
        seq: this.seq,
        month: this.month,
        timezone: this.options.policy.timeZone,
        rolling: rollingLabels(this.options.policy),
        saved_at: iso(now),
        counters: this.counters.toJSON(),
        reservations: [...this.reservations.values()].map((r) => ({
          type: "reserve" as const,
          seq: 0,
          ts: r.at,
          request_id: r.id,
          ...r.identity,
          provider: r.provider,
          model: r.model,
          reserved: r.amounts,
          expires_at: iso(r.expiresAt),
        })),
        marks: this.marks,
      };
      const seq = this.seq;
      await this.db.write(state);
      this.savedSeq = seq;
    };
    this.saving = this.saving.then(run, run);
    return this.saving;
  }

  /** Stops as kill -9 would: no flush, no snapshot, lock left behind (crash tests). */
  abandon(): void {
    if (this.snapshotTimer) clearInterval(this.snapshotTimer);
    this.closed = true;
    this.journal.abandon();
  }

  /** Flushes, snapshots, and lets go of the data directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.snapshotTimer) clearInterval(this.snapshotTimer);
    await this.snapshot();
    this.closed = true;
    this.journal.close();
    this.releaseLock();
  }
}

export interface ScopeStatus {
  scope: string;
  kind: Scope["kind"];
  name: string;
  window: Breach["limit"]["window"];
  unit: Breach["limit"]["unit"];
  limit: number;
  cap: number;
  spent: number;
  reserved: number;
  pct: number;
  resetsAt?: number;
}

function rollingLabels(policy: Policy): string[] {
  return policy.rollingWindows.flatMap((w) => (w.kind === "rolling" ? [w.label] : [])).sort();
}

function pickIdentity(e: EntryIdentity): EntryIdentity {
  const out: EntryIdentity = {};
  if (e.key !== undefined) out.key = e.key;
  if (e.user !== undefined) out.user = e.user;
  if (e.project !== undefined) out.project = e.project;
  if (e.team !== undefined) out.team = e.team;
  if (e.run !== undefined) out.run = e.run;
  return out;
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/**
 * An entry with amounts the counters can take. Versions before 0.2 could
 * journal a NaN cost (as `null`), a negative one, or a negative reservation;
 * replaying those would poison the counters, so a settle is read at its
 * reservation (the worst case it was allowed), and any other bad amount as 0.
 */
function soundEntry(entry: JournalEntry): JournalEntry {
  switch (entry.type) {
    case "reserve": {
      const r = entry.reserved;
      if (isCount(r.micros) && isCount(r.tokens) && isCount(r.requests)) return entry;
      const fix = (n: unknown) => (isCount(n) ? n : 0);
      return {
        ...entry,
        reserved: { micros: fix(r.micros), tokens: fix(r.tokens), requests: fix(r.requests) },
      };
    }
    case "settle":
      if (isCount(entry.cost) && isCount(entry.tokens)) return entry;
      return {
        ...entry,
        cost: isCount(entry.cost) ? entry.cost : isCount(entry.reserved) ? entry.reserved : 0,
        tokens: isCount(entry.tokens) ? entry.tokens : 0,
      };
    case "adjust":
      if (Number.isSafeInteger(entry.cost) && Number.isSafeInteger(entry.tokens)) return entry;
      return {
        ...entry,
        cost: Number.isSafeInteger(entry.cost) ? entry.cost : 0,
        tokens: Number.isSafeInteger(entry.tokens) ? entry.tokens : 0,
      };
    default:
      return entry;
  }
}
