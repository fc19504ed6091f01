import type { Limit, LimitUnit, ScopeKind } from "../budget/policy.js";
import { windowLabel } from "../budget/windows.js";

/**
 * What happened. reconcile_drift and pricing_stale are raised by other
 * features, store_* by the daemon when its journal stops or starts taking
 * writes, test by `alerts test`.
 */
export type AlertEvent =
  | "budget_threshold_exceeded"
  | "budget_exhausted"
  | "fallback_engaged"
  | "soft_limit_overrun"
  | "reconcile_drift"
  | "pricing_stale"
  | "store_unavailable"
  | "store_recovered"
  | "test";

/**
 * One alert, as kept in the outbox. Everything a channel shows is derived
 * from it, so every delivery attempt of an alert sends the same bytes.
 * Amounts are in the limit's unit: µ¢ for cents, else a count.
 */
export interface Alert {
  /** A UUID: the same on every delivery attempt, for the receiver to de-duplicate. */
  id: string;
  event: AlertEvent;
  /** ISO 8601, UTC. */
  at: string;
  /** Scope id: "workspace", "user:alice", "project:bot/model:gpt-4". */
  scope: string;
  scope_kind: ScopeKind;
  scope_name: string;
  /** "daily", "monthly", a rolling label ("24h") or "total"; null for events not about one limit. */
  window: string | null;
  unit: LimitUnit | null;
  /** The threshold that fired (the hard stop's % for budget_exhausted and soft_limit_overrun). */
  threshold_pct: number | null;
  /** Spent as a % of the limit, rounded down to a tenth. */
  pct: number | null;
  spent: number | null;
  limit: number | null;
  /** When the window frees up: a calendar window's end, or when a rolling window's oldest counted spend leaves it. */
  resets_at: string | null;
  /** fallback_engaged: the model asked for and the one served instead. */
  model?: string;
  fallback_model?: string;
  /** Free text for events not about one limit (hooks, test). */
  message?: string;
}

/** pct of `spent` in `limit`, rounded down to a tenth (80% means at least 80%). */
export function percentOf(spent: number, limit: number): number {
  return limit > 0 ? Math.floor((spent * 1000) / limit) / 10 : 0;
}

export interface LimitAlertInput {
  id: string;
  event: AlertEvent;
  /** Epoch ms. */
  at: number;
  scope: { id: string; kind: ScopeKind; name: string };
  limit: Limit;
  thresholdPct: number | null;
  spent: number;
  /** Epoch ms when the window starts over, if it does. */
  resetsAt: number | undefined;
  model?: string | undefined;
  fallbackModel?: string | undefined;
}

/** An alert about one limit of one scope. */
export function limitAlert(input: LimitAlertInput): Alert {
  const { limit } = input;
  const alert: Alert = {
    id: input.id,
    event: input.event,
    at: new Date(input.at).toISOString(),
    scope: input.scope.id,
    scope_kind: input.scope.kind,
    scope_name: input.scope.name,
    window: windowLabel(limit.window),
    unit: limit.unit,
    threshold_pct: input.thresholdPct,
    pct: percentOf(input.spent, limit.amount),
    spent: input.spent,
    limit: limit.amount,
    resets_at: input.resetsAt !== undefined ? new Date(input.resetsAt).toISOString() : null,
  };
  if (input.model !== undefined) alert.model = input.model;
  if (input.fallbackModel !== undefined) alert.fallback_model = input.fallbackModel;
  return alert;
}

/** An alert that is not about one limit: the hooks for other features, and `alerts test`. */
export function messageAlert(input: {
  id: string;
  event: AlertEvent;
  at: number;
  message: string;
  scope?: { id: string; kind: ScopeKind; name: string };
}): Alert {
  const scope = input.scope ?? { id: "workspace", kind: "workspace", name: "workspace" };
  return {
    id: input.id,
    event: input.event,
    at: new Date(input.at).toISOString(),
    scope: scope.id,
    scope_kind: scope.kind,
    scope_name: scope.name,
    window: null,
    unit: null,
    threshold_pct: null,
    pct: null,
    spent: null,
    limit: null,
    resets_at: null,
    message: input.message,
  };
}
