import { randomBytes } from "node:crypto";
import type { Raise } from "../budget/decide.js";
import type { Limit, Policy } from "../budget/policy.js";
import { resetsAt, type WindowSpec, windowLabel } from "../budget/windows.js";
import { TokenpakError } from "../errors.js";
import { formatCents, MAX_AMOUNT_CENTS, MICROS_PER_CENT, type Micros } from "../money/money.js";

/** The ledger mark that keeps the overrides in force across restarts (saved with the snapshot). */
export const OVERRIDES_MARK = "ledger.overrides";

/**
 * A budget override: `micros` more on a scope's dollar limit — one window's,
 * or every one of the scope's — from `from` until `until`. Made by a journal
 * entry, ended by its time or by a cancelling entry.
 */
export interface Override {
  id: string;
  scope: string;
  /** "daily", "monthly" or a rolling label ("24h"); absent: every dollar limit of the scope. */
  window?: string;
  micros: Micros;
  /** Epoch ms. */
  from: number;
  until: number;
  reason: string;
  /** The OS user, or the admin token's label. */
  by: string;
}

/** What an operator asks for. */
export interface OverrideRequest {
  scope: string;
  window?: string | undefined;
  micros: Micros;
  /** Epoch ms; default: when the current instance of the shortest window raised ends. */
  until?: number | undefined;
  reason: string;
  by: string;
}

const isOverride = (v: unknown): v is Override => {
  const o = v as Partial<Override> | null;
  return (
    o !== null &&
    typeof o === "object" &&
    typeof o.id === "string" &&
    typeof o.scope === "string" &&
    (o.window === undefined || typeof o.window === "string") &&
    Number.isSafeInteger(o.micros) &&
    Number.isSafeInteger(o.from) &&
    Number.isSafeInteger(o.until) &&
    typeof o.reason === "string" &&
    typeof o.by === "string"
  );
};

/**
 * The overrides in force, by scope: decide() asks on every dollar limit of
 * every request, so a scope without any costs one map miss, and a ledger
 * without any costs nothing. No I/O, no clock of its own.
 */
export class Overrides {
  private readonly byId = new Map<string, Override>();
  private readonly byScope = new Map<string, Override[]>();

  /** From a snapshot's mark; anything that is not a list of overrides (a damaged file) starts empty. */
  static from(mark: unknown): Overrides {
    const table = new Overrides();
    if (Array.isArray(mark)) for (const o of mark) if (isOverride(o)) table.add(o, Number.NEGATIVE_INFINITY);
    return table;
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: string): Override | undefined {
    return this.byId.get(id);
  }

  /** Adds an override (one already ended at `now` is not kept). */
  add(o: Override, now: number): void {
    if (o.until <= now) return;
    this.remove(o.id);
    this.byId.set(o.id, o);
    const list = this.byScope.get(o.scope);
    if (list) list.push(o);
    else this.byScope.set(o.scope, [o]);
  }

  remove(id: string): Override | undefined {
    const o = this.byId.get(id);
    if (!o) return undefined;
    this.byId.delete(id);
    const rest = (this.byScope.get(o.scope) ?? []).filter((x) => x !== o);
    if (rest.length > 0) this.byScope.set(o.scope, rest);
    else this.byScope.delete(o.scope);
    return o;
  }

  /** The scopes with an override (in force or not yet dropped). */
  scopes(): IterableIterator<string> {
    return this.byScope.keys();
  }

  /** What the overrides of `scopeId` add to its dollar limit in `window` at `now`. */
  raise(scopeId: string, window: WindowSpec, now: number): Raise | undefined {
    const list = this.byScope.get(scopeId);
    if (list === undefined) return undefined;
    let micros = 0;
    let until = Number.POSITIVE_INFINITY;
    for (const o of list) {
      if (o.until <= now || o.from > now) continue;
      if (o.window !== undefined && o.window !== windowLabel(window)) continue;
      micros += o.micros;
      if (o.until < until) until = o.until;
    }
    return micros > 0 ? { micros, until } : undefined;
  }

  /** The overrides of one scope's limit in force at `now`. */
  on(scopeId: string, window: WindowSpec, now: number): Override[] {
    const label = windowLabel(window);
    return (this.byScope.get(scopeId) ?? []).filter(
      (o) => o.until > now && o.from <= now && (o.window === undefined || o.window === label),
    );
  }

  /** Every override in force at `now`, soonest to end first; those that have ended are dropped. */
  active(now: number): Override[] {
    for (const o of [...this.byId.values()]) if (o.until <= now) this.remove(o.id);
    return [...this.byId.values()].sort((a, b) => a.until - b.until || a.from - b.from);
  }

  /** As the snapshot's mark holds them. */
  toJSON(): Override[] {
    return [...this.byId.values()];
  }
}

/** A short id to name an override by (`--cancel ov-3f9a1c2e`), not taken by one in force. */
export function newOverrideId(taken: (id: string) => boolean): string {
  for (;;) {
    const id = `ov-${randomBytes(4).toString("hex")}`;
    if (!taken(id)) return id;
  }
}

function dollarLimits(policy: Policy, scope: string): readonly Limit[] {
  return (policy.scopeById(scope)?.limits ?? []).filter((l) => l.unit === "cents" && l.kind === "budget");
}

/**
 * Checks an override request against the policy and fills in its end: the
 * scope must have a dollar limit (in `window`, when given) for it to raise.
 * Returns the override to journal. Pure: `now` is an argument.
 */
export function planOverride(policy: Policy, request: OverrideRequest, now: number, id: string): Override {
  const bad = (message: string, field: string) => new TokenpakError("invalid_argument", message, { field });
  if (request.micros > MAX_AMOUNT_CENTS * MICROS_PER_CENT)
    throw bad(`the amount to add is too large: at most ${formatCents(MAX_AMOUNT_CENTS)}`, "add_cents");
  if (!Number.isSafeInteger(request.micros) || request.micros <= 0)
    throw bad("the amount to add must be more than zero", "add_cents");
  if (request.reason.trim() === "") throw bad("an override needs a reason", "reason");
  const limits = dollarLimits(policy, request.scope);
  if (limits.length === 0) {
    throw bad(
      policy.scopeById(request.scope) === undefined
        ? `${JSON.stringify(request.scope)} is not a scope: write workspace, project:NAME, team:NAME, key:NAME, user:NAME, model:NAME or project:NAME/model:MODEL`
        : `${request.scope} has no dollar limit for an override to raise`,
      "scope",
    );
  }
  const raised =
    request.window === undefined ? limits : limits.filter((l) => windowLabel(l.window) === request.window);
  if (raised.length === 0) {
    const windows = [...new Set(limits.map((l) => windowLabel(l.window)))].join(", ");
    throw bad(`${request.scope} has no ${request.window} dollar limit (it has: ${windows})`, "window");
  }
  let until = request.until;
  if (until === undefined) {
    const ends = raised.map((l) =>
      l.window.kind === "rolling"
        ? now + l.window.ms
        : (resetsAt(l.window, now, policy.timeZone) ?? Number.POSITIVE_INFINITY),
    );
    until = Math.min(...ends);
    if (!Number.isFinite(until))
      throw bad(`${request.scope}'s limit never resets by itself: say --until when it ends`, "until");
  }
  if (until <= now) throw bad(`the end ${new Date(until).toISOString()} is not in the future`, "until");
  return {
    id,
    scope: request.scope,
    ...(request.window !== undefined ? { window: request.window } : {}),
    micros: request.micros,
    from: now,
    until,
    reason: request.reason,
    by: request.by,
  };
}
