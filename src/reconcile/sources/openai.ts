import { TokenpakError } from "../../errors.js";
import { type Json, num, obj, str } from "../../providers/json.js";
import type { BilledCost, BilledTokens, Billing } from "../diff.js";
import { billedModel, canonicalModel, lineItemModel } from "../models.js";
import { utcDay } from "../period.js";
import { type Buckets, billedAmount, forEachResult, requireUsd } from "./pages.js";
import type { SourceRequest } from "./source.js";

/** Buckets per page: costs allow up to 180, usage up to 31 daily buckets. */
const COSTS_LIMIT = 180;
const USAGE_LIMIT = 31;

function bucketDay(bucket: Json, provider: string): string {
  const start = num(bucket.start_time);
  if (start === undefined)
    throw new TokenpakError("provider_error", `${provider}: a bucket has no start_time`);
  return utcDay(start * 1000);
}

/** Defensive: drops results for a project we did not ask for (grouping by project_id shows it). */
function wanted(result: Json, projects: readonly string[] | undefined): boolean {
  const project = str(result.project_id);
  return projects === undefined || project === undefined || projects.includes(project);
}

/**
 * OpenAI's organisation cost report (`amount.value`, USD, by `line_item`,
 * which names the model and token kind) and completions usage report (tokens
 * per model), for the period's UTC days, filtered to the configured projects.
 */
export async function openaiBilling(req: SourceRequest): Promise<Billing> {
  const { provider, filter } = req;
  const common = {
    start_time: Math.floor(req.period.start / 1000),
    end_time: Math.floor(req.period.end / 1000),
    bucket_width: "1d",
    project_ids: filter.project_ids,
    api_key_ids: filter.api_key_ids,
  };
  const get = {
    provider,
    baseUrl: req.baseUrl,
    headers: { authorization: `Bearer ${req.adminKey}`, accept: "application/json" },
    timeoutMs: req.timeoutMs,
  };
  const buckets: Buckets = {
    day: (bucket) => bucketDay(bucket, provider),
    days: new Set(req.period.days),
    wanted: (result) => wanted(result, filter.project_ids),
  };
  const costs: BilledCost[] = [];
  const costsQuery = { ...common, group_by: ["line_item", "project_id"], limit: COSTS_LIMIT };
  const costDays = await forEachResult(
    { ...get, path: "/organization/costs", query: costsQuery },
    buckets,
    (at, result) => {
      const amount = obj(result.amount);
      requireUsd(provider, str(amount.currency) ?? "usd");
      const value = amount.value;
      if (typeof value !== "number" && typeof value !== "string") {
        throw new TokenpakError(
          "provider_error",
          `${provider}: a cost result in ${at.where} has no amount.value`,
        );
      }
      const item = str(result.line_item);
      const name = item ? lineItemModel(item) : "";
      costs.push({
        day: at.day,
        ...billedModel(name),
        cost: billedAmount(provider, at, "amount.value", value, "usd"),
      });
    },
  );
  const tokens: BilledTokens[] = [];
  const usageQuery = { ...common, group_by: ["model", "project_id"], limit: USAGE_LIMIT };
  const tokenDays = await forEachResult(
    { ...get, path: "/organization/usage/completions", query: usageQuery },
    buckets,
    (at, result) => {
      // input_tokens includes the cached ones.
      const n = (num(result.input_tokens) ?? 0) + (num(result.output_tokens) ?? 0);
      tokens.push({ day: at.day, model: canonicalModel(str(result.model) ?? ""), tokens: n });
    },
  );
  // Only the days the report has a bucket for: there, a model without results was billed nothing.
  return {
    source: `${provider}:costs`,
    days: req.period.days.filter((d) => costDays.has(d)),
    costs,
    tokens,
    tokenDays: req.period.days.filter((d) => tokenDays.has(d)),
  };
}
