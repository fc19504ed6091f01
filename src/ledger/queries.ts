import { type Breach, capOf, type WindowUsage } from "../budget/decide.js";
import type { Identity, Limit, LimitKind, Policy, Scope } from "../budget/policy.js";
import { resetsAt, type WindowSpec } from "../budget/windows.js";
import type { Micros } from "../money/money.js";
import type { Counters } from "./counters.js";

export interface ScopeStatus {
  scope: string;
  kind: Scope["kind"];
  name: string;
  window: Breach["limit"]["window"];
  unit: Breach["limit"]["unit"];
  /** budget (402 when reached), quota or rate (429). */
  limitKind: LimitKind;
  limit: number;
  cap: number;
  spent: number;
  reserved: number;
  pct: number;
  resetsAt?: number;
  /**
   * Budget overrides in force on this limit (`tokenpak budget override`, issue
   * #16, which fills it and includes them in `cap`): what they add (µ¢), when
   * the first of them ends (epoch ms), their ids.
   */
  raised?: { micros: number; until: number; ids: string[] };
}

/** Read-only questions about the counters, at a moment the caller gives. */
export class LedgerQueries {
  constructor(
    private readonly policy: Policy,
    private readonly counters: Counters,
  ) {}

  /** Usage of one scope's limit in the window of `at`. */
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

  /** Every scope that holds counters. */
  scopeIds(): IterableIterator<string> {
    return this.counters.scopeIds();
  }

  /** Spend and utilisation of every limit of the scopes `ids` (default: every scope with counters). */
  status(now: number, ids: Iterable<string> = this.counters.scopeIds()): ScopeStatus[] {
    const { policy } = this;
    const out: ScopeStatus[] = [];
    for (const id of ids) {
      const scope = policy.scopeById(id);
      if (!scope) continue;
      for (const limit of scope.limits) {
        const u = this.counters.usage(scope.id, limit, now);
        const resets = this.resetsAt(scope.id, limit.window, now);
        out.push({
          scope: scope.id,
          kind: scope.kind,
          name: scope.name,
          window: limit.window,
          unit: limit.unit,
          limitKind: limit.kind,
          limit: limit.amount,
          cap: capOf(limit, policy.hardStopPct),
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
  remaining(identity: Identity, model: string, now: number): Micros | undefined {
    let least: number | undefined;
    for (const scope of this.policy.scopesFor(identity, model)) {
      for (const limit of scope.limits) {
        if (limit.unit !== "cents" || limit.kind !== "budget") continue;
        const u = this.counters.usage(scope.id, limit, now);
        const room = capOf(limit, this.policy.hardStopPct) - u.spent - u.reserved;
        if (least === undefined || room < least) least = room;
      }
    }
    return least === undefined ? undefined : Math.max(0, least);
  }
}
