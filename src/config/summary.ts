import { microsToCents } from "../money/money.js";
import type { ModelPricing } from "../pricing/resolve.js";
import { alertThresholds } from "./load.js";
import type { Config, ResolvedPeriodLimits } from "./types.generated.js";

export interface LimitsSummary {
  daily_limit_cents?: number;
  monthly_limit_cents?: number;
  daily_limit_tokens?: number;
  monthly_limit_tokens?: number;
  rolling?: { window: string; limit_cents?: number; limit_tokens?: number; limit_requests?: number }[];
}

/** What a valid config enforces, for `validate-config` and the proxy's start line. */
export interface ConfigSummary {
  budget: LimitsSummary & {
    enabled: boolean;
    reject_on_exceed: boolean;
    hard_stop_pct: number;
    alert_thresholds_pct: number[];
    fallback_model?: string;
    timezone: string;
  };
  users: ({ user: string } & LimitsSummary)[];
  /** Limits for users not listed, if set. */
  default_user?: LimitsSummary;
  teams: ({ name: string } & LimitsSummary)[];
  projects: ({ name: string; team?: string } & LimitsSummary)[];
  keys: { name: string; project: string; team?: string; user?: string }[];
  providers: { name: string; type: string }[];
  models: {
    name: string;
    provider: string;
    /** The config's own prices (estimated_*). */
    input_cost_per_1k?: number;
    output_cost_per_1k?: number;
    /** The prices requests will be charged at, and where they come from (when the price table was read). */
    effective?: EffectivePrice;
  }[];
  open_mode: boolean;
}

export interface EffectivePrice {
  input_cost_per_1k: number | null;
  output_cost_per_1k: number | null;
  /** table: the synced (or bundled) price table; config: estimated_*; none: requests are refused. */
  from: "table" | "config" | "pin_price" | "unknown_model" | "none";
  /** The price table's entry, for `from: table`. */
  entry?: string;
}

function effective(p: ModelPricing): EffectivePrice {
  if ("error" in p) return { input_cost_per_1k: null, output_cost_per_1k: null, from: "none" };
  const cents = {
    input_cost_per_1k: microsToCents(p.prices.input),
    output_cost_per_1k: microsToCents(p.prices.output),
  };
  const o = p.origin;
  if (o.kind === "table") return { ...cents, from: "table", entry: o.match.key };
  return { ...cents, from: o.kind === "config" ? (o.pinned ? "pin_price" : "config") : "unknown_model" };
}

function limits(l: ResolvedPeriodLimits & { rolling_limits?: LimitsSummary["rolling"] }): LimitsSummary {
  const out: LimitsSummary = {};
  if (l.daily_limit_cents !== undefined) out.daily_limit_cents = l.daily_limit_cents;
  if (l.monthly_limit_cents !== undefined) out.monthly_limit_cents = l.monthly_limit_cents;
  if (l.daily_limit_tokens !== undefined) out.daily_limit_tokens = l.daily_limit_tokens;
  if (l.monthly_limit_tokens !== undefined) out.monthly_limit_tokens = l.monthly_limit_tokens;
  if (l.rolling_limits && l.rolling_limits.length > 0) out.rolling = l.rolling_limits.map((r) => ({ ...r }));
  return out;
}

/** What `config` enforces; with `pricing` (resolved against the price table), each model's effective price too. */
export function summarize(config: Config, pricing?: ReadonlyMap<string, ModelPricing>): ConfigSummary {
  const b = config.budget;
  const perUser = b.per_user_limits;
  const usersOn = perUser?.enabled === true;
  return {
    budget: {
      enabled: b.enabled,
      ...limits(b),
      reject_on_exceed: b.reject_on_exceed,
      hard_stop_pct: b.hard_stop_pct,
      alert_thresholds_pct: alertThresholds(config),
      ...(b.fallback_model_on_exceed !== undefined ? { fallback_model: b.fallback_model_on_exceed } : {}),
      timezone: b.timezone,
    },
    users: usersOn
      ? Object.entries(perUser.user_limits ?? {}).map(([user, l]) => ({ user, ...limits(l ?? {}) }))
      : [],
    ...(usersOn && perUser.default ? { default_user: limits(perUser.default) } : {}),
    teams: Object.entries(config.teams ?? {}).map(([name, t]) => ({ name, ...limits(t ?? {}) })),
    projects: Object.entries(config.projects ?? {}).map(([name, p]) => ({
      name,
      ...(p?.team !== undefined ? { team: p.team } : {}),
      ...limits(p ?? {}),
    })),
    keys: (config.keys ?? []).map((k) => ({
      name: k.name,
      project: k.project,
      ...(k.team !== undefined ? { team: k.team } : {}),
      ...(k.user !== undefined ? { user: k.user } : {}),
    })),
    providers: Object.entries(config.providers ?? {}).map(([name, p]) => ({ name, type: p?.type ?? "" })),
    models: Object.entries(config.models ?? {}).map(([name, m]) => ({
      name,
      provider: m?.provider ?? "",
      ...(m?.estimated_input_cost_per_1k !== undefined
        ? { input_cost_per_1k: m.estimated_input_cost_per_1k }
        : {}),
      ...(m?.estimated_output_cost_per_1k !== undefined
        ? { output_cost_per_1k: m.estimated_output_cost_per_1k }
        : {}),
      ...(pricing?.has(name) ? { effective: effective(pricing.get(name) as ModelPricing) } : {}),
    })),
    open_mode: (config.keys ?? []).length === 0,
  };
}
