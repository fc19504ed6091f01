import type { Config, ResolvedPeriodLimits, ResolvedRollingLimit } from "../config/types.generated.js";
import { centsToMicros, type Micros } from "../money/money.js";
import { parseWindow, type WindowSpec } from "./windows.js";

/** Who a request is for. Every field but the workspace is optional. */
export interface Identity {
  key?: string | undefined;
  user?: string | undefined;
  project?: string | undefined;
  /** undefined: the project's team, if it has one; null: no team (a journal entry that recorded none). */
  team?: string | null | undefined;
  run?: string | undefined;
}

export type LimitUnit = "cents" | "tokens" | "requests";
/** budget → 402 budget_exceeded; quota → 429 quota_exceeded; rate → 429 rate_limited. */
export type LimitKind = "budget" | "quota" | "rate";

export interface Limit {
  window: WindowSpec;
  unit: LimitUnit;
  /** µ¢ for cents, else a count. */
  amount: number;
  kind: LimitKind;
}

export type ScopeKind =
  | "request"
  | "run"
  | "key"
  | "user"
  | "project_model"
  | "project"
  | "team_model"
  | "team"
  | "model"
  | "workspace";

export interface Scope {
  /** Counter key: "workspace", "user:alice", "project:bot/model:gpt-4", "run:abc". */
  id: string;
  kind: ScopeKind;
  /** Human name: "alice", "bot × gpt-4". */
  name: string;
  limits: readonly Limit[];
}

export interface PerRequestRules {
  maxCost?: Micros;
  maxInputTokens?: number;
  maxOutputTokens?: number;
}

/** The config compiled once into lookup tables, so resolving a request's scopes is a few map reads. */
export interface Policy {
  enabled: boolean;
  rejectOnExceed: boolean;
  hardStopPct: number;
  timeZone: string;
  fallbackModel?: string;
  perRequest: PerRequestRules;
  /** Every rolling window some limit uses; the ledger keeps buckets for exactly these. */
  rollingWindows: readonly WindowSpec[];
  /** Most specific first, workspace last. Scopes without limits are included: the ledger still counts them. */
  /** Shared arrays: callers must not change them. */
  scopesFor(identity: Identity, model: string): readonly Scope[];
  /** The scope a counter key stands for, with its limits under the current config. */
  scopeById(id: string): Scope | undefined;
}

const NO_LIMITS: readonly Limit[] = Object.freeze([]);
const DAY: WindowSpec = { kind: "day" };
const MONTH: WindowSpec = { kind: "month" };
const TOTAL: WindowSpec = { kind: "total" };
const MINUTE: WindowSpec = { kind: "rolling", ms: 60_000, label: "1m" };

function periodLimits(l: ResolvedPeriodLimits | undefined): Limit[] {
  if (!l) return [];
  const out: Limit[] = [];
  const add = (window: WindowSpec, unit: LimitUnit, value: number | undefined) => {
    if (value !== undefined) {
      out.push({ window, unit, amount: unit === "cents" ? centsToMicros(value) : value, kind: "budget" });
    }
  };
  add(DAY, "cents", l.daily_limit_cents);
  add(MONTH, "cents", l.monthly_limit_cents);
  add(DAY, "tokens", l.daily_limit_tokens);
  add(MONTH, "tokens", l.monthly_limit_tokens);
  return out;
}

type ScopeConfig = ResolvedPeriodLimits & {
  rolling_limits?: ResolvedRollingLimit[];
  model_limits?: { [model: string]: ResolvedPeriodLimits | undefined };
};

function scopeLimits(s: ScopeConfig | undefined): Limit[] {
  if (!s) return [];
  const out = periodLimits(s);
  for (const r of s.rolling_limits ?? []) {
    const window = parseWindow(r.window);
    if (!window) continue; // the schema's pattern already refused it
    if (r.limit_cents !== undefined) {
      out.push({ window, unit: "cents", amount: centsToMicros(r.limit_cents), kind: "budget" });
    }
    if (r.limit_tokens !== undefined)
      out.push({ window, unit: "tokens", amount: r.limit_tokens, kind: "budget" });
    if (r.limit_requests !== undefined)
      out.push({ window, unit: "requests", amount: r.limit_requests, kind: "budget" });
  }
  return out;
}

function modelLimitTable(
  owners: { [name: string]: ScopeConfig | undefined } | undefined,
): Map<string, Limit[]> {
  const table = new Map<string, Limit[]>();
  for (const [owner, s] of Object.entries(owners ?? {})) {
    for (const [model, l] of Object.entries(s?.model_limits ?? {}))
      table.set(`${owner}\n${model}`, periodLimits(l));
  }
  return table;
}

/** Compiles the config's budgets into a Policy. With `budget.enabled: false` only quotas and rate limits remain. */
export function compilePolicy(config: Config): Policy {
  const b = config.budget;
  const on = b.enabled;
  const budgets = (limits: Limit[]): readonly Limit[] => (on ? limits : NO_LIMITS);

  const workspace = [...budgets(scopeLimits(b))];
  if (b.quota?.requests_per_month !== undefined) {
    workspace.push({ window: MONTH, unit: "requests", amount: b.quota.requests_per_month, kind: "quota" });
  }
  const workspaceModel = modelLimitTable({ "": b });
  const teams = new Map(Object.entries(config.teams ?? {}).map(([n, t]) => [n, budgets(scopeLimits(t))]));
  const teamModel = modelLimitTable(config.teams);
  const projects = new Map(
    Object.entries(config.projects ?? {}).map(([n, p]) => [n, budgets(scopeLimits(p))]),
  );
  const projectModel = modelLimitTable(config.projects);
  const projectTeam = new Map(Object.entries(config.projects ?? {}).map(([n, p]) => [n, p?.team]));
  const keys = new Map(
    (config.keys ?? []).map((k) => {
      const limits = [...budgets(periodLimits(k))];
      const rate = k.rate_limit;
      if (rate?.requests_per_minute !== undefined) {
        limits.push({ window: MINUTE, unit: "requests", amount: rate.requests_per_minute, kind: "rate" });
      }
      if (rate?.tokens_per_minute !== undefined) {
        limits.push({ window: MINUTE, unit: "tokens", amount: rate.tokens_per_minute, kind: "rate" });
      }
      return [k.name, limits];
    }),
  );
  const perUser = b.per_user_limits;
  const usersOn = on && perUser?.enabled === true;
  const users = new Map(
    Object.entries(perUser?.user_limits ?? {}).map(([u, l]) => [u, usersOn ? periodLimits(l) : NO_LIMITS]),
  );
  const defaultUser = usersOn ? periodLimits(perUser?.default) : NO_LIMITS;
  const run: Limit[] = [];
  if (b.per_run_limits?.max_cost_cents !== undefined) {
    run.push({
      window: TOTAL,
      unit: "cents",
      amount: centsToMicros(b.per_run_limits.max_cost_cents),
      kind: "budget",
    });
  }
  if (b.per_run_limits?.max_requests !== undefined) {
    run.push({ window: TOTAL, unit: "requests", amount: b.per_run_limits.max_requests, kind: "budget" });
  }
  const runLimits = budgets(run);

  const rolling = new Map<string, WindowSpec>();
  for (const limits of [workspace, ...teams.values(), ...projects.values(), ...keys.values()]) {
    for (const l of limits) if (l.window.kind === "rolling") rolling.set(l.window.label, l.window);
  }

  const pr = b.per_request;
  const perRequest: PerRequestRules = {};
  if (on && pr?.max_cost_cents !== undefined) perRequest.maxCost = centsToMicros(pr.max_cost_cents);
  if (on && pr?.max_input_tokens !== undefined) perRequest.maxInputTokens = pr.max_input_tokens;
  if (on && pr?.max_output_tokens !== undefined) perRequest.maxOutputTokens = pr.max_output_tokens;

  const lookup = (table: Map<string, readonly Limit[]>, name: string) =>
    on ? (table.get(name) ?? NO_LIMITS) : NO_LIMITS;

  const WORKSPACE: Scope = { id: "workspace", kind: "workspace", name: "workspace", limits: workspace };
  // Scope ids are "<kind>:<name>", composite ones "<project|team>:<name>/model:<model>"; scopeById parses them back.
  // Scope objects are reused: resolving a request allocates no new ones, and
  // their id strings hash once for the counters' maps. Bounded, so a flood of
  // distinct user ids cannot grow it without end.
  const cache = new Map<string, Scope>();
  const cached = (id: string, kind: ScopeKind, name: string, limits: () => readonly Limit[]): Scope => {
    let scope = cache.get(id);
    if (!scope) {
      if (cache.size >= 100_000) cache.clear();
      scope = { id, kind, name, limits: limits() };
      cache.set(id, scope);
    }
    return scope;
  };
  const make = {
    run: (n: string) => cached(`run:${n}`, "run", n, () => runLimits),
    key: (n: string) => cached(`key:${n}`, "key", n, () => keys.get(n) ?? NO_LIMITS),
    user: (n: string) => cached(`user:${n}`, "user", n, () => users.get(n) ?? defaultUser),
    project: (n: string) => cached(`project:${n}`, "project", n, () => projects.get(n) ?? NO_LIMITS),
    team: (n: string) => cached(`team:${n}`, "team", n, () => teams.get(n) ?? NO_LIMITS),
    model: (m: string) => cached(`model:${m}`, "model", m, () => lookup(workspaceModel, `\n${m}`)),
    projectModel: (n: string, m: string) =>
      cached(`project:${n}/model:${m}`, "project_model", `${n} × ${m}`, () =>
        lookup(projectModel, `${n}\n${m}`),
      ),
    teamModel: (n: string, m: string) =>
      cached(`team:${n}/model:${m}`, "team_model", `${n} × ${m}`, () => lookup(teamModel, `${n}\n${m}`)),
  };

  const resolve = (identity: Identity, model: string): readonly Scope[] => {
    const { run, key, user, project } = identity;
    const team =
      identity.team === null
        ? undefined
        : (identity.team ?? (project !== undefined ? projectTeam.get(project) : undefined));
    const scopes: Scope[] = [];
    if (run !== undefined) scopes.push(make.run(run));
    if (key !== undefined) scopes.push(make.key(key));
    if (user !== undefined) scopes.push(make.user(user));
    if (project !== undefined) scopes.push(make.projectModel(project, model), make.project(project));
    if (team !== undefined) scopes.push(make.teamModel(team, model), make.team(team));
    scopes.push(make.model(model), WORKSPACE);
    return scopes;
  };
  const resolved = new Map<string, readonly Scope[]>();
  // Length-prefixed, so that no choice of user or run id (client input) can spell another identity's key.
  const part = (v: string | undefined | null) =>
    v === undefined ? "-" : v === null ? "!" : `${v.length}:${v}`;

  return {
    enabled: on,
    rejectOnExceed: b.reject_on_exceed,
    hardStopPct: b.hard_stop_pct,
    timeZone: b.timezone,
    ...(b.fallback_model_on_exceed !== undefined ? { fallbackModel: b.fallback_model_on_exceed } : {}),
    perRequest,
    rollingWindows: [...rolling.values()],
    scopesFor(identity, model) {
      // One lookup per request instead of a lookup per scope (a request resolves them twice).
      const id = `${part(identity.run)}${part(identity.key)}${part(identity.user)}${part(identity.project)}${part(identity.team)}${model}`;
      let scopes = resolved.get(id);
      if (!scopes) {
        if (resolved.size >= 100_000) resolved.clear();
        scopes = resolve(identity, model);
        resolved.set(id, scopes);
      }
      return scopes;
    },
    scopeById(id) {
      if (id === "workspace") return WORKSPACE;
      const colon = id.indexOf(":");
      const kind = id.slice(0, colon);
      const name = id.slice(colon + 1);
      const split = name.lastIndexOf("/model:");
      switch (kind) {
        case "run":
          return make.run(name);
        case "key":
          return make.key(name);
        case "user":
          return make.user(name);
        case "model":
          return make.model(name);
        case "project":
          return split < 0
            ? make.project(name)
            : make.projectModel(name.slice(0, split), name.slice(split + 7));
        case "team":
          return split < 0 ? make.team(name) : make.teamModel(name.slice(0, split), name.slice(split + 7));
        default:
          return undefined;
      }
    },
  };
}
