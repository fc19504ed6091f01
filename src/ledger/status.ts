import type { Policy } from "../budget/policy.js";
import { windowLabel } from "../budget/windows.js";
import type { LedgerQueries, ScopeStatus } from "./queries.js";
import type { RoomOf } from "./room.js";

/**
 * ok; warning (at or past WARNING_PCT of where blocking starts); full (what
 * spend and the reservations of requests in flight leave cannot pay for the
 * smallest request: new requests are refused with 402 until those settle —
 * retryable); blocked (what settled spend leaves cannot pay for it, or it
 * refused a request in this window: refused until it resets); over (soft
 * mode, `reject_on_exceed: false`: past the limit, still served).
 */
export type BudgetState = "ok" | "warning" | "full" | "blocked" | "over";

/** One limit of one scope, as `tokenpak status --json` prints it. Amounts in the unit (µ¢ for cents). */
export interface StatusRow {
  scope: string;
  kind: ScopeStatus["kind"];
  name: string;
  /** "daily", "monthly", a rolling label ("24h") or "total". */
  window: string;
  unit: ScopeStatus["unit"];
  limit_kind: ScopeStatus["limitKind"];
  limit: number;
  /** Where blocking starts: limit × hard_stop_pct for budgets, the limit for quotas and rates. */
  cap: number;
  spent: number;
  /** Held by requests in flight (only a running daemon knows). */
  reserved: number;
  /** spent / limit × 100. */
  pct: number;
  /** (spent + reserved) / cap × 100: how full it is now. */
  used_pct: number;
  resets_at: string | null;
  /** It refuses new requests now: state blocked, or full (only until the requests in flight settle). */
  blocked: boolean;
  state: BudgetState;
  /** Overrides in force: what they add to the limit (in `cap` already), when the first ends, their ids. */
  override?: { amount: number; until: string; ids: string[] };
}

export interface StatusQuery {
  /** Only scopes whose id starts with this ("project:", "user:alice"). */
  prefix?: string | undefined;
  /** Every limited scope, also those without spend (default: only those with spend or reservations). */
  all?: boolean | undefined;
}

export interface StatusReport {
  at: string;
  timezone: string;
  /** "daemon": live, with reservations in flight; "journal": read from the data directory, nothing in flight. */
  source: "daemon" | "journal";
  rows: StatusRow[];
  /** How many rows refuse new requests now (state blocked or full). */
  blocked: number;
  /** Of those, how many only while requests in flight hold them (state full: a retry after they settle may pass). */
  full: number;
}

/** From this share of its cap on, a budget is shown as a warning. */
export const WARNING_PCT = 80;

/**
 * Whether a limit refused a request in its current window although spend has
 * not quite reached the cap (what is left cannot pay for the smallest
 * answer); the alerts know (their "stop" level), so whoever has them says.
 */
export type Refused = (s: ScopeStatus) => boolean;

/** What tells a row's state besides its figures: refusals seen (alerts) and the smallest request's room (prices). */
export interface Judges {
  refused?: Refused | undefined;
  /** Without it (no prices at hand) a limit is full only once spend and reservations reach the cap. */
  room?: RoomOf | undefined;
}

function stateOf(s: ScopeStatus, rejectOnExceed: boolean, judges: Judges): BudgetState {
  const refuses = s.limitKind !== "budget" || rejectOnExceed;
  if (!refuses) return s.spent >= s.limit ? "over" : s.spent * 100 >= s.cap * WARNING_PCT ? "warning" : "ok";
  // A refusal from before an override raised the cap no longer says anything.
  if (s.spent >= s.cap || (s.raised === undefined && judges.refused?.(s) === true)) return "blocked";
  // Short of the cap the proxy still refuses once the smallest request no longer fits.
  const room = judges.room?.(s);
  if (room === "reached") return "blocked";
  if (room === "in_flight" || s.spent + s.reserved >= s.cap) return "full";
  return (s.spent + s.reserved) * 100 >= s.cap * WARNING_PCT ? "warning" : "ok";
}

const RANK: Record<BudgetState, number> = { blocked: 0, full: 1, over: 2, warning: 3, ok: 4 };

export function toRow(
  s: ScopeStatus,
  policy: Pick<Policy, "rejectOnExceed">,
  judges: Judges = {},
): StatusRow {
  const state = stateOf(s, policy.rejectOnExceed, judges);
  return {
    scope: s.scope,
    kind: s.kind,
    name: s.name,
    window: windowLabel(s.window),
    unit: s.unit,
    limit_kind: s.limitKind,
    limit: s.limit,
    cap: s.cap,
    spent: s.spent,
    reserved: s.reserved,
    pct: s.pct,
    used_pct: s.cap > 0 ? ((s.spent + s.reserved) / s.cap) * 100 : 0,
    resets_at: s.resetsAt !== undefined ? new Date(s.resetsAt).toISOString() : null,
    blocked: state === "blocked" || state === "full",
    state,
    ...(s.raised !== undefined && s.raised.micros > 0
      ? {
          override: {
            amount: s.raised.micros,
            until: new Date(s.raised.until).toISOString(),
            ids: s.raised.ids,
          },
        }
      : {}),
  };
}

/** Most urgent first: blocked, full, over, then by how full, then by the soonest reset. */
export function byUrgency(a: StatusRow, b: StatusRow): number {
  return (
    RANK[a.state] - RANK[b.state] ||
    b.used_pct - a.used_pct ||
    (a.resets_at ?? "~").localeCompare(b.resets_at ?? "~") ||
    a.scope.localeCompare(b.scope) ||
    a.window.localeCompare(b.window)
  );
}

/** The scopes a query asks about: those with counters, and with `all` every scope the config names. */
function scopesAsked(queries: LedgerQueries, policy: Policy, query: StatusQuery): Iterable<string> {
  const ids = new Set(queries.scopeIds());
  // Named scopes also without counters: --all shows them, and one may refuse before any spend.
  for (const id of policy.namedScopes) ids.add(id);
  const prefix = query.prefix;
  if (prefix === undefined || prefix === "") return ids;
  return [...ids].filter((id) => id.startsWith(prefix));
}

/** Every budget that applies now, most urgent first: what `tokenpak status` shows. */
export function budgetStatus(
  queries: LedgerQueries,
  policy: Policy,
  query: StatusQuery,
  now: number,
  source: StatusReport["source"],
  judges: Judges = {},
): StatusReport {
  const rows = queries
    .status(now, scopesAsked(queries, policy, query))
    .map((s) => toRow(s, policy, judges))
    // By default what has spend, something in flight, an override, or refuses requests.
    .filter((r) => query.all || r.spent !== 0 || r.reserved !== 0 || r.blocked || r.override !== undefined)
    .sort(byUrgency);
  return {
    at: new Date(now).toISOString(),
    timezone: policy.timeZone,
    source,
    rows,
    blocked: rows.filter((r) => r.blocked).length,
    full: rows.filter((r) => r.state === "full").length,
  };
}
