import { TokenpakError } from "../../errors.js";
import { type Json, num, obj, str } from "../../providers/json.js";
import type { BilledCost, BilledTokens, Billing } from "../diff.js";
import { billedModel, canonicalModel } from "../models.js";
import { utcDay } from "../period.js";
import { type Buckets, billedAmount, forEachResult, requireUsd } from "./pages.js";
import type { SourceRequest } from "./source.js";

/** Daily buckets per page: at most 31. */
const LIMIT = 31;
/** In reconcile.workspace_ids, the organisation's default workspace (its results carry workspace_id null). */
export const DEFAULT_WORKSPACE = "default";

function bucketDay(bucket: Json, provider: string): string {
  const start = Date.parse(str(bucket.starting_at) ?? "");
  if (Number.isNaN(start))
    throw new TokenpakError("provider_error", `${provider}: a bucket has no starting_at`);
  return utcDay(start);
}

function wanted(result: Json, workspaces: readonly string[] | undefined): boolean {
  return workspaces === undefined || workspaces.includes(str(result.workspace_id) ?? DEFAULT_WORKSPACE);
}

/**
 * Anthropic's cost report (`amount`: a decimal string in cents, `model`
 * null for costs that are not tokens) and messages usage report (tokens per
 * model). The cost report takes no workspace filter, so it is grouped by
 * workspace and filtered here; the usage report filters by workspace and key.
 */
export async function anthropicBilling(req: SourceRequest): Promise<Billing> {
  const { provider, filter } = req;
  const workspaces = filter.workspace_ids;
  const common = {
    starting_at: new Date(req.period.start).toISOString(),
    ending_at: new Date(req.period.end).toISOString(),
    bucket_width: "1d",
    limit: LIMIT,
  };
  const get = {
    provider,
    baseUrl: req.baseUrl,
    headers: { "x-api-key": req.adminKey, "anthropic-version": "2023-06-01", accept: "application/json" },
    timeoutMs: req.timeoutMs,
  };
  const buckets: Buckets = {
    day: (bucket) => bucketDay(bucket, provider),
    days: new Set(req.period.days),
    wanted: (result) => wanted(result, workspaces),
  };
  const costs: BilledCost[] = [];
  const costsQuery = { ...common, group_by: ["workspace_id", "description"] };
  const costDays = await forEachResult(
    { ...get, path: "/v1/organizations/cost_report", query: costsQuery },
    buckets,
    (at, result) => {
      requireUsd(provider, str(result.currency) ?? "USD");
      const amount = str(result.amount);
      if (amount === undefined) {
        throw new TokenpakError("provider_error", `${provider}: a cost result in ${at.where} has no amount`);
      }
      // model is null for costs that are not tokens (web search, code execution): the whole day's.
      const name = str(result.model) ?? "";
      costs.push({
        day: at.day,
        ...billedModel(name),
        cost: billedAmount(provider, at, "amount", amount, "cents"),
      });
    },
  );
  const tokens: BilledTokens[] = [];
  const usageQuery = {
    ...common,
    group_by: ["model", "workspace_id"],
    // The default workspace has no id to filter by: then the grouping tells it apart.
    workspace_ids: workspaces?.includes(DEFAULT_WORKSPACE) ? undefined : workspaces,
    api_key_ids: filter.api_key_ids,
  };
  const tokenDays = await forEachResult(
    { ...get, path: "/v1/organizations/usage_report/messages", query: usageQuery },
    buckets,
    (at, result) => {
      const created = obj(result.cache_creation);
      const n =
        (num(result.uncached_input_tokens) ?? 0) +
        (num(result.cache_read_input_tokens) ?? 0) +
        (num(created.ephemeral_5m_input_tokens) ?? 0) +
        (num(created.ephemeral_1h_input_tokens) ?? 0) +
        (num(result.output_tokens) ?? 0);
      tokens.push({ day: at.day, model: canonicalModel(str(result.model) ?? ""), tokens: n });
    },
  );
  // Only the days the report has a bucket for: there, a model without results was billed nothing.
  return {
    source: `${provider}:cost_report`,
    days: req.period.days.filter((d) => costDays.has(d)),
    costs,
    tokens,
    tokenDays: req.period.days.filter((d) => tokenDays.has(d)),
  };
}
