import { type Breach, capOf, type Raise, type WindowUsage } from "../budget/decide.js";
import type { Identity, Limit, LimitKind, Scope } from "../budget/policy.js";
import { resetsAt, type WindowSpec } from "../budget/windows.js";
import type { Micros } from "../money/money.js";
import type { Books } from "./booking.js";

export interface ScopeStatus {
  scope: string;
  kind: Scope["kind"];
  name: string;
  window: Breach["limit"]["window"];
  unit: Breach["limit"]["unit"];
  /** budget (402 when reached), quota or rate (429). */
  limitKind: LimitKind;
  /** As configured. */
  limit: number;
  /** Where it blocks: (limit + overrides) × hard_stop_pct. */
  cap: number;
  spent: number;
  reserved: number;
  /** Of the limit as configured: past 100 while an override lets it go on. */
  pct: number;
  resetsAt?: number;
  /** Budget overrides in force on this limit: what they add, until when the first ends, and their ids. */
  raised?: Raise & { ids: string[] };
}

/** Read-only questions about the books, at a moment the caller gives. */
export class LedgerQueries {
  constructor(private readonly books: Books) {}

  private get policy() {
    return this.books.policy;
  }

  private get counters() {
    return this.books.counters;
  }

  /** Usage of one scope's limit in the window of `at` (overrides are not usage: see status). */
  usage(scopeId: string, limit: Limit, at: number): WindowUsage {
    return this.counters.usage(scopeId, limit, at);
  }

  /**
   * When a scope's window frees up: a calendar window at its end, a rolling
   * one when its oldest counted spend leaves it; undefined for a total window
   * or an empty rolling one. Refusals, `status` and alerts all ask here.
   */
  resetsAt(scopeId: string, window: WindowSpec, at: number): number | undefined {
    const oldest =
      window.kind === "rolling" ? this.counters.oldestLiveBucket(scopeId, window, at) : undefined;
    return resetsAt(window, at, this.policy.timeZone, oldest);
  }

  /** Every scope that holds counters or has an override (which shows before anything is spent there). */
  scopeIds(): Set<string> {
    return new Set([...this.counters.scopeIds(), ...this.books.overrides.scopes()]);
  }

  /** Spend and utilisation of every limit of the scopes `ids` (default: scopeIds()). */
  status(now: number, ids: Iterable<string> = this.scopeIds()): ScopeStatus[] {
    const { policy } = this;
    const out: ScopeStatus[] = [];
    for (const id of ids) {
      const scope = policy.scopeById(id);
      if (!scope) continue;
      for (const limit of scope.limits) {
        const u = this.books.usage(scope.id, limit, now);
        const resets = this.resetsAt(scope.id, limit.window, now);
        const ids = u.raised ? this.books.overrides.on(scope.id, limit.window, now).map((o) => o.id) : [];
        out.push({
          scope: scope.id,
          kind: scope.kind,
          name: scope.name,
          window: limit.window,
          unit: limit.unit,
          limitKind: limit.kind,
          limit: limit.amount,
          cap: capOf(limit, policy.hardStopPct, u.raised?.micros),
          spent: u.spent,
          reserved: u.reserved,
          pct: limit.amount > 0 ? (u.spent / limit.amount) * 100 : 0,
          ...(resets !== undefined ? { resetsAt: resets } : {}),
          ...(u.raised ? { raised: { ...u.raised, ids } } : {}),
        });
      }
    }
    return out;
  }

  /**
   * What the tightest dollar limit of a request's scopes still allows (µ¢),
   * after what is spent and reserved; undefined when none has a dollar limit.
   */
  remaining(identity: Identity, model: string, now: number): Micros | undefined {
    let least: number | undefined;
    for (const scope of this.policy.scopesFor(identity, model)) {
      for (const limit of scope.limits) {
        if (limit.unit !== "cents" || limit.kind !== "budget") continue;
        const u = this.books.usage(scope.id, limit, now);
        const room = capOf(limit, this.policy.hardStopPct, u.raised?.micros) - u.spent - u.reserved;
        if (least === undefined || room < least) least = room;
      }
    }
    return least === undefined ? undefined : Math.max(0, least);
  }
}
