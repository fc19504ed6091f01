import type { Config } from "../config/types.generated.js";
import { TokenpakError } from "../errors.js";
import { centsToMicros, type Micros } from "../money/money.js";
import { ownValue } from "../own.js";

/**
 * When a request enables priced built-in tools without `max_tool_calls`,
 * the reservation assumes this many calls, and that value is sent upstream
 * as `max_tool_calls` so the answer cannot make more than were reserved.
 */
export const DEFAULT_MAX_TOOL_CALLS = 10;

/** The price of one call of each built-in tool a request enables, at one model; unpriced kinds are absent. */
export type ToolPrices = Readonly<Record<string, Micros>>;

/**
 * The per-call prices of `kinds` at `model` (config `tool_call_cents`). A kind
 * without a price refuses the request (`model_unpriced`), unless
 * `pricing.unknown_tool: allow` lets it through unpriced: reconcile-spend then
 * brings its cost in from the provider's bill.
 */
export function toolPrices(
  model: string,
  kinds: readonly string[],
  config: Pick<Config, "models" | "pricing">,
): ToolPrices {
  const table = ownValue(config.models, model)?.tool_call_cents;
  const prices: Record<string, Micros> = {};
  for (const kind of kinds) {
    const cents = table ? ownValue(table, kind) : undefined;
    if (cents !== undefined) prices[kind] = centsToMicros(cents);
    else if (config.pricing.unknown_tool !== "allow") {
      throw new TokenpakError(
        "model_unpriced",
        `the built-in tool ${kind} has no price for model ${model}: set models.${model}.tool_call_cents.${kind} (US cents per call), or pricing.unknown_tool: allow to let its calls through for reconcile-spend to price`,
        { model, param: "tools", tool: kind },
      );
    }
  }
  return prices;
}

/** The dearest call among `prices`: what one call is reserved at. */
export function dearestCall(prices: ToolPrices): Micros {
  let most = 0;
  for (const p of Object.values(prices)) most = Math.max(most, p);
  return most;
}

/** What `calls` cost at `prices`; a kind without a price (allowed unpriced) adds nothing. */
export function toolCost(calls: Readonly<Record<string, number>>, prices: ToolPrices): Micros {
  let cost = 0;
  for (const [kind, n] of Object.entries(calls)) cost += n * (ownValue(prices, kind) ?? 0);
  return cost;
}
