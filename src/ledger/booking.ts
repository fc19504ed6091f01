import { type Amounts, type Decision, decide, type ModelChoice, type WindowUsage } from "../budget/decide.js";
import type { Identity, Limit, Policy, Scope } from "../budget/policy.js";
import { TokenpakError } from "../errors.js";
import type { Micros } from "../money/money.js";
import { NO_USAGE, totalTokens, type Usage } from "../pricing/usage.js";
import type { Corrections } from "./corrections.js";
import type { Cell, Counters } from "./counters.js";
import type { EntryIdentity, JournalEntry, ReconcileRef } from "./journal.js";
import type { Overrides } from "./overrides.js";
import type { RollupDay } from "./rollup.js";

export type ReserveEntry = Extract<JournalEntry, { type: "reserve" }>;
type SettleEntry = Extract<JournalEntry, { type: "settle" }>;

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

/** A signed correction (reconcile-spend, manual credit) to every scope of `identity`. */
export interface AdjustInput {
  identity: Identity;
  model?: string;
  provider?: string;
  /** Signed µ¢. */
  cost: Micros;
  /** Signed, like `cost`: the provider may have counted fewer tokens. */
  tokens?: number;
  reason: string;
  source?: string;
  /** When it counts (default now; never later): a correction to last Tuesday changes this month, not today. */
  at?: number;
  reconcile?: ReconcileRef;
}

export interface Reservation {
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

export type Allowed = Extract<Decision, { action: "allow" }>;

// Under load many entries share a millisecond; two slots serve both `ts` and `expires_at`.
const isoCache: [number, string][] = [
  [Number.NaN, ""],
  [Number.NaN, ""],
];
let isoSlot = 0;
export function iso(ms: number): string {
  for (const [cachedMs, text] of isoCache) if (cachedMs === ms) return text;
  const text = new Date(ms).toISOString();
  isoCache[isoSlot] = [ms, text];
  isoSlot ^= 1;
  return text;
}

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

function pickIdentity(e: EntryIdentity): EntryIdentity {
  const out: EntryIdentity = {};
  if (e.key !== undefined) out.key = e.key;
  if (e.user !== undefined) out.user = e.user;
  if (e.project !== undefined) out.project = e.project;
  if (e.team !== undefined) out.team = e.team;
  if (e.run !== undefined) out.run = e.run;
  return out;
}

/**
 * The books in memory: every scope's counters and the open reservations, and
 * the one place a journal entry changes them — live operations and replay
 * both apply entries here, so they cannot disagree. No I/O.
 */
export class Books {
  readonly reservations = new Map<string, Reservation>();

  constructor(
    /** Replaced by a config reload that keeps the windows counted (Ledger.usePolicy). */
    public policy: Policy,
    readonly counters: Counters,
    /** How much of each scope's current spend came from corrections (reconcile-spend). */
    readonly corrections: Corrections,
    /** Budget overrides in force: they raise a scope's dollar limits for a while. */
    readonly overrides: Overrides,
    private readonly now: () => number,
  ) {}

  /** Usage of a scope's limit in the window of `at`, with the overrides raising it (decide's lookup). */
  usage(scopeId: string, limit: Limit, at: number): WindowUsage {
    const u = this.counters.usage(scopeId, limit, at);
    if (this.overrides.size === 0 || limit.unit !== "cents" || limit.kind !== "budget") return u;
    const raised = this.overrides.raise(scopeId, limit.window, at);
    if (raised !== undefined) u.raised = raised;
    return u;
  }

  /** Applies one entry to memory. */
  apply(entry: JournalEntry): void {
    switch (entry.type) {
      case "reserve":
        this.book(entry);
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
      case "override":
        this.overrides.add(
          {
            id: entry.id,
            scope: entry.scope,
            ...(entry.window !== undefined ? { window: entry.window } : {}),
            micros: entry.add,
            from: Date.parse(entry.ts),
            until: Date.parse(entry.until),
            reason: entry.reason,
            by: entry.by,
          },
          this.now(),
        );
        return;
      case "override_cancel":
        this.overrides.remove(entry.id);
        return;
    }
  }

  /** Applies a rollup's day line (a compacted month): its spend lands in every scope at its moment. */
  applyDay(row: RollupDay): void {
    const amounts = { micros: row.cost, tokens: row.tokens, requests: row.requests };
    this.counters.add(this.scopeIdsOf(row, row.model), amounts, Date.parse(row.at));
  }

  /** Books a reservation in every scope's windows of its moment. */
  book(
    entry: ReserveEntry,
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

  scopesOf(e: EntryIdentity, model: string): readonly Scope[] {
    return this.policy.scopesFor(recorded(e), model);
  }

  private scopeIdsOf(e: EntryIdentity, model: string): string[] {
    return this.scopesOf(e, model).map((s) => s.id);
  }

  /**
   * Decides the request against every budget and, when it may go ahead,
   * books its worst case in every scope — in one synchronous step, so
   * concurrent requests cannot both take the last dollar. The entry returned
   * is still to be journaled.
   */
  reserve(
    request: ReserveRequest,
    now: number,
    ttlMs: number,
  ):
    | { action: "block"; decision: Extract<Decision, { action: "block" }> }
    | { action: "allow"; decision: Allowed; entry: ReserveEntry; reservation: Reservation } {
    const { policy } = this;
    if (this.reservations.has(request.requestId)) {
      throw new TokenpakError("internal_error", `request id ${request.requestId} is already reserved`);
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
      (scope, limit) => this.usage(scope.id, limit, now),
      policy,
    );
    if (decision.action === "block") return { action: "block", decision };

    const model = decision.model;
    const booked = decision.fallbackFrom !== undefined && fallbackScopes ? fallbackScopes : scopes;
    const expiresAt = now + ttlMs;
    const identity = identityOf(booked, request.identity);
    const entry: ReserveEntry = {
      type: "reserve",
      seq: 0,
      ts: iso(now),
      request_id: request.requestId,
      ...identity,
      provider: model.provider,
      model: model.name,
      reserved: decision.reserve,
      expires_at: iso(expiresAt),
    };
    const reservation = this.book(entry, booked, now, expiresAt, identity);
    if (decision.fallbackFrom !== undefined) reservation.fallbackFrom = decision.fallbackFrom;
    if (decision.overruns.length > 0) reservation.overrun = decision.overruns.map((b) => b.scope.id);
    return { action: "allow", decision, entry, reservation };
  }

  /** The settle entry that replaces reservation `r` by the real cost. */
  settleEntry(
    r: Reservation,
    input: SettleInput,
    now: number,
    tokens: number = totalTokens(input.usage),
  ): SettleEntry {
    return {
      type: "settle",
      seq: 0,
      ts: iso(now),
      request_id: r.id,
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
  }

  /**
   * The settle entry that charges a reservation nobody ended at its full
   * amount: `recovered` (in flight at a crash) or `interrupted` (still in
   * flight when the daemon stopped).
   */
  chargeEntry(r: Reservation, now: number, status: "recovered" | "interrupted"): SettleEntry {
    const usage = { ...NO_USAGE };
    return this.settleEntry(r, { usage, cost: r.amounts.micros, status }, now, r.amounts.tokens);
  }

  /** The correction entry for `adjust`, the scopes it lands in, and the moment it counts at. */
  adjustEntry(
    input: AdjustInput,
    now: number,
  ): { entry: JournalEntry; scopes: readonly Scope[]; at: number } {
    const scopes = this.policy.scopesFor(input.identity, input.model ?? "");
    const at = Math.min(input.at ?? now, now);
    const entry: JournalEntry = {
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
    };
    return { entry, scopes, at };
  }

  /** The open reservations as reserve entries, for the snapshot (booked again on load). */
  openEntries(): ReserveEntry[] {
    return [...this.reservations.values()].map((r) => ({
      type: "reserve" as const,
      seq: 0,
      ts: r.at,
      request_id: r.id,
      ...r.identity,
      provider: r.provider,
      model: r.model,
      reserved: r.amounts,
      expires_at: iso(r.expiresAt),
    }));
  }
}
