import type { Breach } from "../budget/decide.js";
import { scopeTitle } from "../budget/scope-names.js";
import { windowLabel } from "../budget/windows.js";
import { TokenpakError } from "../errors.js";
import type { Block } from "../ledger/ledger.js";
import { formatUsd, microsToCents } from "../money/money.js";

/** A refusal caused by requests in flight: they settle within seconds, typically for less than they hold. */
export const IN_FLIGHT_RETRY_SECONDS = 2;

function amount(b: Breach, value: number): string {
  if (b.limit.unit === "cents") return formatUsd(value);
  return `${value.toLocaleString("en-US")} ${b.limit.unit}`;
}

/** "$50.00", or with overrides in force "$50.00 + override $50.00 until 2026-11-30T23:00:00.000Z". */
function limitText(b: Breach): string {
  const base = amount(b, b.limit.amount);
  if (!b.raised) return base;
  return `${base} + override ${formatUsd(b.raised.micros)} until ${new Date(b.raised.until).toISOString()}`;
}

/**
 * The refusal for a blocked request, as the recipe shows it: "User user-a has
 * reached daily budget limit ($3.00). Rejecting request.", with spent and
 * limit by window, the scope, and when the window frees up.
 */
export function refusal(block: Block, now: number): TokenpakError {
  const b = block.breach;
  const window = b.scope.kind === "request" ? "request" : windowLabel(b.limit.window);
  const limit = b.limit.amount;
  const details: Record<string, unknown> = { scope: b.scope.id, window };
  if (b.limit.unit === "cents") {
    details.spent_cents = microsToCents(b.spent);
    details.limit_cents = microsToCents(limit);
    if (b.raised) {
      details.override_cents = microsToCents(b.raised.micros);
      details.override_until = new Date(b.raised.until).toISOString();
    }
    if (b.cap !== limit + (b.raised?.micros ?? 0)) details.hard_stop_cents = microsToCents(b.cap);
    if (b.reserved > 0) details.in_flight_cents = microsToCents(b.reserved);
    if (window === "daily" || window === "monthly") {
      details[`${window}_spent`] = formatUsd(b.spent);
      details[`${window}_limit`] = formatUsd(limit);
    }
  } else {
    details[`spent_${b.limit.unit}`] = b.spent;
    details[`limit_${b.limit.unit}`] = limit;
  }
  if (block.resetsAt !== undefined) {
    details.resets_at = new Date(block.resetsAt).toISOString();
    if (block.reason !== "budget" && block.reason !== "request") {
      details.retryAfterSeconds = Math.max(1, Math.ceil((block.resetsAt - now) / 1000));
    }
  }
  if (block.reason === "quota") {
    return new TokenpakError(
      "quota_exceeded",
      `${scopeTitle(b.scope)} has used its ${window} request quota (${amount(b, limit)}).`,
      details,
    );
  }
  if (block.reason === "rate") {
    return new TokenpakError(
      "rate_limited",
      `${scopeTitle(b.scope)} is over its rate limit (${amount(b, limit)} per ${window}).`,
      details,
    );
  }
  if (block.reason === "request") {
    return new TokenpakError(
      "budget_exceeded",
      `${scopeTitle(b.scope)} would exceed the per-request limit (${amount(b, limit)}). Rejecting request.`,
      details,
    );
  }
  const stop = b.cap !== limit + (b.raised?.micros ?? 0) ? ` (hard stop at ${amount(b, b.cap)})` : "";
  let corrected = "";
  if (block.corrected !== undefined) {
    // The user sees less spend in their own requests than the cap: say where the rest came from.
    details.corrected_cents = microsToCents(block.corrected);
    corrected = ` The ${window} spend includes ${formatUsd(block.corrected)} added by reconcile-spend to match the provider's bill.`;
  }
  if (b.inFlight) {
    // Not reached: only other requests' worst cases are in the way, and most settle for less.
    details.in_flight = true;
    details.retryAfterSeconds = IN_FLIGHT_RETRY_SECONDS;
    return new TokenpakError(
      "budget_exceeded",
      `${scopeTitle(b.scope)} cannot fit this request in its ${window} budget limit (${limitText(b)})${stop} right now: ${amount(b, b.spent)} spent and ${amount(b, b.reserved)} held by requests in flight. Retry in a few seconds.`,
      details,
    );
  }
  return new TokenpakError(
    "budget_exceeded",
    `${scopeTitle(b.scope)} has reached ${window} budget limit (${limitText(b)})${stop}. Rejecting request.${corrected}`,
    details,
  );
}
