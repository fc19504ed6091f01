import { parseScopeId } from "../budget/scope-id.js";
import { scopeTitle } from "../budget/scope-names.js";
import { formatUsd, microsToCents } from "../money/money.js";
import type { Alert } from "./alert.js";

/** `user=user-a`, `project=bot model=gpt-4`, `workspace`: the scope as log fields. */
export function scopeFields(scopeId: string): string {
  const ref = parseScopeId(scopeId);
  if (ref === undefined || !("name" in ref)) return logValue(scopeId);
  if (!("model" in ref)) return `${ref.kind}=${logValue(ref.name)}`;
  const owner = ref.kind === "project_model" ? "project" : "team";
  return `${owner}=${logValue(ref.name)} model=${logValue(ref.model)}`;
}

/** A value as one log field: quoted when it has spaces, quotes or is empty. */
function logValue(value: string): string {
  return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
}

function amount(alert: Alert, value: number): string {
  return alert.unit === "cents" ? formatUsd(value) : `${value.toLocaleString("en-US")} ${alert.unit}`;
}

/** `spent=$2.40 daily_limit=$3.00`, or `spent_tokens=900 daily_limit_tokens=1000` for other units. */
function amountFields(alert: Alert): string {
  if (alert.spent === null || alert.limit === null || alert.unit === null) return "";
  const window = alert.window ?? "total";
  if (alert.unit === "cents")
    return ` spent=${formatUsd(alert.spent)} ${window}_limit=${formatUsd(alert.limit)}`;
  return ` spent_${alert.unit}=${alert.spent} ${window}_limit_${alert.unit}=${alert.limit}`;
}

/** The second-precision UTC time the recipe's log shows: 2026-03-25T09:45:00Z. */
function logTime(iso: string): string {
  return `${iso.slice(0, 19)}Z`;
}

/**
 * The alerts-log line, in the recipe's format with fields added after it:
 * `2026-03-25T09:45:00Z ALERT budget_threshold_exceeded user=user-a spent=$2.40 daily_limit=$3.00 pct=80% threshold=80% id=…`
 */
export function logLine(alert: Alert): string {
  let line = `${logTime(alert.at)} ALERT ${alert.event} ${scopeFields(alert.scope)}${amountFields(alert)}`;
  if (alert.pct !== null) line += ` pct=${Math.floor(alert.pct)}%`;
  if (alert.threshold_pct !== null) line += ` threshold=${alert.threshold_pct}%`;
  if (alert.model !== undefined) line += ` model=${logValue(alert.model)}`;
  if (alert.fallback_model !== undefined) line += ` fallback=${logValue(alert.fallback_model)}`;
  if (alert.message !== undefined) line += ` message=${JSON.stringify(alert.message)}`;
  return `${line} id=${alert.id}`;
}

/** A log line about one channel of an alert: DEAD after the last attempt, UNSENT when it cannot be used. */
export function deliveryLine(
  at: string,
  kind: "DEAD" | "UNSENT",
  alert: Alert,
  target: string,
  attempts: number,
  reason: string,
): string {
  return `${logTime(at)} ${kind} ${alert.event} ${scopeFields(alert.scope)} target=${logValue(target)} attempts=${attempts} reason=${JSON.stringify(reason)} id=${alert.id}`;
}

/** One sentence for people: the webhook's `text` (what Slack shows) and the email's first line. */
export function alertText(alert: Alert): string {
  const who = scopeTitle({ kind: alert.scope_kind, name: alert.scope_name });
  const window = alert.window ?? "";
  const spent = alert.spent !== null ? amount(alert, alert.spent) : "";
  const limit = alert.limit !== null ? amount(alert, alert.limit) : "";
  const resets = alert.resets_at !== null ? ` It resets at ${alert.resets_at}.` : "";
  switch (alert.event) {
    case "budget_threshold_exceeded":
      return `tokenpak: ${who} has used ${Math.floor(alert.pct ?? 0)}% of its ${window} budget (${spent} of ${limit}).${resets}`;
    case "budget_exhausted":
      return `tokenpak: ${who} has reached its ${window} budget limit (${spent} of ${limit}); requests are refused.${resets}`;
    case "fallback_engaged":
      return `tokenpak: ${who} can no longer afford ${alert.model ?? "the model asked for"} within its ${window} budget (${spent} of ${limit}); requests are served on ${alert.fallback_model ?? "the fallback model"}.${resets}`;
    case "soft_limit_overrun":
      return `tokenpak: ${who} is over its ${window} budget (${spent} of ${limit}); soft mode keeps serving its requests.${resets}`;
    default:
      return `tokenpak: ${alert.message ?? alert.event}`;
  }
}

export interface WebhookPayload {
  id: string;
  event: string;
  scope: string;
  window: string | null;
  threshold_pct: number | null;
  pct: number | null;
  spent_cents: number | null;
  limit_cents: number | null;
  resets_at: string | null;
  at: string;
  /** Makes the body a valid Slack incoming-webhook message. */
  text: string;
  unit: string | null;
  spent_tokens?: number;
  limit_tokens?: number;
  spent_requests?: number;
  limit_requests?: number;
  model?: string;
  fallback_model?: string;
  message?: string;
}

/** The JSON body every webhook target receives. */
export function webhookPayload(alert: Alert): WebhookPayload {
  const cents = alert.unit === "cents";
  const payload: WebhookPayload = {
    id: alert.id,
    event: alert.event,
    scope: alert.scope,
    window: alert.window,
    threshold_pct: alert.threshold_pct,
    pct: alert.pct,
    spent_cents: cents && alert.spent !== null ? microsToCents(alert.spent) : null,
    limit_cents: cents && alert.limit !== null ? microsToCents(alert.limit) : null,
    resets_at: alert.resets_at,
    at: alert.at,
    text: alertText(alert),
    unit: alert.unit,
  };
  if (alert.unit === "tokens" || alert.unit === "requests") {
    if (alert.spent !== null) payload[`spent_${alert.unit}`] = alert.spent;
    if (alert.limit !== null) payload[`limit_${alert.unit}`] = alert.limit;
  }
  if (alert.model !== undefined) payload.model = alert.model;
  if (alert.fallback_model !== undefined) payload.fallback_model = alert.fallback_model;
  if (alert.message !== undefined) payload.message = alert.message;
  return payload;
}

export function emailSubject(alert: Alert): string {
  const pct = alert.pct !== null ? ` at ${Math.floor(alert.pct)}%` : "";
  const window = alert.window !== null ? ` ${alert.window}` : "";
  return `[tokenpak] ${alert.event}: ${scopeFields(alert.scope)}${window}${pct}`;
}

export function emailBody(alert: Alert): string {
  return `${alertText(alert)}\n\n${logLine(alert)}\n\n${JSON.stringify(webhookPayload(alert), null, 2)}\n`;
}
