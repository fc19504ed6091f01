import type { Micros } from "../money/money.js";
import {
  affordableOutputTokens,
  costOf,
  outputCost,
  type Prices,
  reservationPrices,
} from "../pricing/cost.js";
import { NO_USAGE } from "../pricing/usage.js";
import type { Limit, LimitKind, PerRequestRules, Scope } from "./policy.js";

/**
 * Below this many output tokens a clamped answer is not worth serving: the
 * request is treated as not fitting (unless the client itself asked for fewer).
 */
export const MIN_OUTPUT_TOKENS = 16;

/** Budget overrides in force on one dollar limit: how much they add, and when the first of them ends. */
export interface Raise {
  micros: Micros;
  /** Epoch ms: the soonest end among them (when the cap first drops again). */
  until: number;
}

/** What a scope has used of one limit's current window, in the limit's unit (µ¢, tokens or requests). */
export interface WindowUsage {
  spent: number;
  reserved: number;
  /** Overrides raising this limit now (dollar limits only). */
  raised?: Raise | undefined;
}

export type UsageLookup = (scope: Scope, limit: Limit) => WindowUsage;

export interface ModelChoice {
  name: string;
  provider: string;
  prices: Prices;
  /** The most output this model may produce for one request (config max_output_tokens, or a default). */
  maxOutputTokens: number;
  /**
   * Cost reserved besides the tokens, at this model's prices: the built-in
   * tool calls (Responses API) the answer may make. Settled at the calls made.
   */
  fixedCost?: Micros | undefined;
}

export interface BudgetRequest {
  scopes: readonly Scope[];
  inputTokens: number;
  /** max_tokens as the client sent it, if it did. */
  requestedMaxTokens?: number | undefined;
  /**
   * How many answers the request generates (OpenAI's `n`): each may use the
   * whole output cap, so the reservation and the clamp count it that often.
   */
  choices?: number | undefined;
  model: ModelChoice;
  fallback?: ModelChoice | undefined;
  /** The fallback model's own scopes (its model and project × model scopes differ); asked for only when needed. */
  fallbackScopes?: (() => readonly Scope[]) | undefined;
}

export interface Rules {
  hardStopPct: number;
  rejectOnExceed: boolean;
  perRequest: PerRequestRules;
}

/** A limit the request would break: which, and how far along it already is. */
export interface Breach {
  scope: Pick<Scope, "id" | "kind" | "name">;
  limit: Limit;
  spent: number;
  reserved: number;
  /** Where blocking starts: (the limit + overrides) × hard_stop_pct for budgets, the limit itself for quotas and rates. */
  cap: number;
  /** The overrides that raised the limit, when some did. */
  raised?: Raise;
  /**
   * The request would fit in what is spent; only other requests' reservations
   * (worst cases, most of which settle for less) are in the way, so a retry in
   * a few seconds is likely to succeed.
   */
  inFlight: boolean;
}

export interface Amounts {
  micros: Micros;
  tokens: number;
  requests: number;
}

export type Decision =
  | {
      action: "allow";
      model: ModelChoice;
      /** Set when the request is served on the fallback model instead of this one. */
      fallbackFrom?: string;
      /** With fallbackFrom: the limit the model asked for did not fit. */
      fallbackBecause?: Breach;
      /** max_tokens to send upstream: the reservation covers exactly this much output. */
      maxOutputTokens: number;
      /**
       * True when maxOutputTokens is below what the client asked for — by a
       * budget, a per-request rule or the model's max_output_tokens — or,
       * when it asked nothing, below the model's cap.
       */
      clamped: boolean;
      reserve: Amounts;
      /** Soft mode (reject_on_exceed: false): the budget limits this request runs over. */
      overruns: Breach[];
    }
  | { action: "block"; reason: LimitKind | "request"; breach: Breach };

const REQUEST_SCOPE = { id: "request", kind: "request", name: "request" } as const;

/** Where a limit blocks: an override raises the limit itself, and the hard stop applies to the sum. */
export function capOf(limit: Limit, hardStopPct: number, raised = 0): number {
  return limit.kind === "budget" ? Math.floor(((limit.amount + raised) * hardStopPct) / 100) : limit.amount;
}

interface Fit {
  maxOut: number;
  /** The prices the reservation and the clamp are made at (the long-context tier, when in reach). */
  prices: Prices;
  inputCost: Micros;
  breaches: Breach[];
}

/**
 * Decides a request against every limit of every scope: allow (possibly with
 * max_tokens clamped to what the tightest budget can pay for), allow on the
 * fallback model, soft-allow with the overrun flagged, or block naming the
 * narrowest scope that blocks. Pure: the caller supplies current usage.
 */
export function decide(request: BudgetRequest, usage: UsageLookup, rules: Rules): Decision {
  const { scopes, inputTokens } = request;
  const pr = rules.perRequest;
  const choices = request.choices ?? 1;
  const breach = (scope: Breach["scope"], limit: Limit, u: WindowUsage, inFlight = false): Breach => ({
    scope,
    limit,
    spent: u.spent,
    reserved: u.reserved,
    cap: capOf(limit, rules.hardStopPct, u.raised?.micros),
    inFlight,
    ...(u.raised ? { raised: u.raised } : {}),
  });

  if (pr.maxInputTokens !== undefined && inputTokens > pr.maxInputTokens) {
    const limit: Limit = {
      window: { kind: "total" },
      unit: "tokens",
      amount: pr.maxInputTokens,
      kind: "budget",
    };
    const b = breach(REQUEST_SCOPE, limit, { spent: inputTokens, reserved: 0 });
    return { action: "block", reason: "request", breach: { ...b, cap: limit.amount } };
  }

  const overruns: Breach[] = [];
  for (const scope of scopes) {
    for (const limit of scope.limits) {
      if (limit.unit !== "requests") continue;
      const u = usage(scope, limit);
      const cap = capOf(limit, rules.hardStopPct);
      if (u.spent + u.reserved + 1 <= cap) continue;
      const b = breach(scope, limit, u, u.spent + 1 <= cap);
      if (limit.kind !== "budget" || rules.rejectOnExceed)
        return { action: "block", reason: limit.kind, breach: b };
      overruns.push(b);
    }
  }

  const perChoice = (tokens: number) => (choices === 1 ? tokens : Math.floor(tokens / choices));
  /** The output tokens per answer that `left` (µ¢ or tokens, the limit's unit) pays for. */
  const room = (limit: Limit, left: number, prices: Prices) =>
    perChoice(limit.unit === "cents" ? affordableOutputTokens(left, prices) : left);

  // Soft mode never clamps: it serves what was asked and flags each limit the
  // full request would run over. Hard mode clamps down to MIN_OUTPUT_TOKENS.
  const tryModel = (asked: ModelChoice, scopes: readonly Scope[]): Fit | { block: Decision } => {
    // Input and output both at the long-context tier the input may reach, as the provider bills it:
    // the clamp below and the reservation in allow() use these same prices.
    const tiered = reservationPrices(asked.prices, inputTokens);
    const model = tiered === asked.prices ? asked : { ...asked, prices: tiered };
    const desired = Math.min(
      request.requestedMaxTokens ?? model.maxOutputTokens,
      model.maxOutputTokens,
      pr.maxOutputTokens ?? Number.POSITIVE_INFINITY,
    );
    const inputCost = costOf({ ...NO_USAGE, input: inputTokens }, model.prices) + (model.fixedCost ?? 0);
    let maxOut = desired;
    if (pr.maxCost !== undefined) {
      const n = perChoice(affordableOutputTokens(pr.maxCost - inputCost, model.prices));
      const floor = Math.min(desired, MIN_OUTPUT_TOKENS);
      if (n < floor) {
        const limit: Limit = { window: { kind: "total" }, unit: "cents", amount: pr.maxCost, kind: "budget" };
        const worst = inputCost + outputCost(floor * choices, model.prices);
        const b = { ...breach(REQUEST_SCOPE, limit, { spent: worst, reserved: 0 }), cap: pr.maxCost };
        return { block: { action: "block", reason: "request", breach: b } };
      }
      maxOut = Math.min(maxOut, n);
    }
    const floor = rules.rejectOnExceed ? Math.min(maxOut, MIN_OUTPUT_TOKENS) : maxOut;
    const breaches: Breach[] = [];
    for (const scope of scopes) {
      for (const limit of scope.limits) {
        if (limit.unit === "requests") continue;
        const u = usage(scope, limit);
        const cap = capOf(limit, rules.hardStopPct, u.raised?.micros);
        const free = cap - u.spent - (limit.unit === "cents" ? inputCost : inputTokens);
        const n = room(limit, free - u.reserved, model.prices);
        if (n >= floor) {
          if (rules.rejectOnExceed) maxOut = Math.min(maxOut, n);
          continue;
        }
        const b = breach(scope, limit, u, u.reserved > 0 && room(limit, free, model.prices) >= floor);
        if (limit.kind !== "budget") return { block: { action: "block", reason: limit.kind, breach: b } };
        breaches.push(b);
      }
    }
    return { maxOut, prices: model.prices, inputCost, breaches };
  };

  const allow = (model: ModelChoice, f: Fit, fallbackFrom?: string, because?: Breach): Decision => ({
    action: "allow",
    model,
    ...(fallbackFrom !== undefined ? { fallbackFrom } : {}),
    ...(because !== undefined ? { fallbackBecause: because } : {}),
    maxOutputTokens: f.maxOut,
    clamped: f.maxOut < (request.requestedMaxTokens ?? model.maxOutputTokens),
    reserve: {
      micros: f.inputCost + outputCost(f.maxOut * choices, f.prices),
      tokens: inputTokens + f.maxOut * choices,
      requests: 1,
    },
    overruns: [...overruns, ...f.breaches],
  });

  const first = tryModel(request.model, scopes);
  if ("block" in first) return first.block;
  if (first.breaches.length === 0) return allow(request.model, first);

  const fallback = request.fallback;
  if (fallback && fallback.name !== request.model.name) {
    const second = tryModel(fallback, request.fallbackScopes?.() ?? scopes);
    if (!("block" in second) && second.breaches.length === 0)
      return allow(fallback, second, request.model.name, first.breaches[0]);
  }
  if (!rules.rejectOnExceed) return allow(request.model, first);
  // A budget truly reached outranks one only held by requests in flight: retrying cannot help there.
  const narrowest = first.breaches.find((b) => !b.inFlight) ?? (first.breaches[0] as Breach);
  return { action: "block", reason: "budget", breach: narrowest };
}
