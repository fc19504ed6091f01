import { createHash } from "node:crypto";
import type {
  Config,
  ResolvedClientKey,
  ResolvedPeriodLimits,
  ResolvedRollingLimit,
} from "../config/types.generated.js";
import { centsToMicros, type Micros } from "../money/money.js";
import { formatScopeId, parseScopeId, type ScopeKind, type ScopeRef, scopeName } from "./scope-id.js";
import { parseWindow, type WindowSpec, windowLabel } from "./windows.js";

export type { ScopeKind } from "./scope-id.js";

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

export interface Scope {
  /** Counter key: "workspace", "user:alice", "project:bot/model:gpt-4", "run:abc". */
  id: string;
  kind: ScopeKind;
  /** Human name: "alice", "bot × gpt-4". */
  name: string;
  limits: readonly Limit[];
}

/** What the policy needs of a client key, from the config or the key store: its own limits. */
export type KeyLimits = Pick<
  ResolvedClientKey,
  "name" | "daily_limit_cents" | "monthly_limit_cents" | "rate_limit"
>;

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
  /**
   * Which windows each scope's limits count in, as a digest. The ledger keeps
   * only those; when this changes, a snapshot may lack a window now needed,
   * so the ledger rebuilds from the journal.
   */
  windowsKey: string;
  /**
   * The windows ("daily", "monthly", "total", "24h") each scope with limits of
   * its own counts in, by scope id; "user:*" for users without limits of their
   * own, "run:*" for every run. What a new policy adds here is what the
   * ledger's counters may lack (see Ledger.usePolicy).
   */
  windowSets: ReadonlyMap<string, ReadonlySet<string>>;
  /** Most specific first, workspace last. Scopes without limits are included: the ledger still counts them. */
  /** Shared arrays: callers must not change them. */
  scopesFor(identity: Identity, model: string): readonly Scope[];
  /** The scope a counter key stands for, with its limits under the current config. */
  scopeById(id: string): Scope | undefined;
  /** Just the limits of scopeById(id), without keeping a Scope object for it (sweeps over every scope). */
  limitsById(id: string): readonly Limit[] | undefined;
  /**
   * Forgets the scope objects cached for identities seen (they are rebuilt on
   * demand) when there are more than `keep`: the ledger calls this as it lets
   * idle scopes go, so the cache does not hold on to them either.
   */
  forgetScopes(keep: number): void;
  /**
   * The scopes the config names that have limits, in config order: the
   * workspace, teams, projects, their model limits, keys and named users.
   * Users under `per_user_limits.default` and agent runs are not named.
   */
  namedScopes: readonly string[];
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

/** A digest of the windows each limit list, and each named one of the tables, counts in; amounts play no part. */
function digestWindows(
  lists: readonly (readonly Limit[])[],
  tables: readonly ReadonlyMap<string, readonly Limit[]>[],
): string {
  const windows = (limits: readonly Limit[]) => [...new Set(limits.map((l) => windowLabel(l.window)))].sort();
  const named = (table: ReadonlyMap<string, readonly Limit[]>) =>
    [...table.keys()].sort().map((name) => [name, windows(table.get(name) ?? [])]);
  const text = JSON.stringify([lists.map(windows), tables.map(named)]);
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** The windows of every scope with limits of its own (Policy.windowSets). */
function windowSets(
  lists: Readonly<Record<string, readonly Limit[]>>,
  tables: readonly (readonly [(name: string) => string, ReadonlyMap<string, readonly Limit[]>])[],
): Map<string, ReadonlySet<string>> {
  const windows = (limits: readonly Limit[]) => new Set(limits.map((l) => windowLabel(l.window)));
  const out = new Map<string, ReadonlySet<string>>();
  for (const [id, limits] of Object.entries(lists)) out.set(id, windows(limits));
  for (const [idOf, table] of tables)
    for (const [name, limits] of table) out.set(idOf(name), windows(limits));
  return out;
}

/** A table's `owner\nmodel` name as the scope id it stands for. */
function modelScopeId(kind: "project_model" | "team_model" | "model"): (name: string) => string {
  return (name) => {
    const [owner = "", model = ""] = name.split("\n");
    return formatScopeId(kind === "model" ? { kind, name: model } : { kind, name: owner, model });
  };
}

/**
 * Compiles the config's budgets into a Policy. With `budget.enabled: false`
 * only quotas and rate limits remain. `keys`: every client key's limits, the
 * key store's beside the config's (default: the config's alone).
 */
export function compilePolicy(config: Config, keyList: readonly KeyLimits[] = config.keys ?? []): Policy {
  const b = config.budget;
  const tables = compileLimits(config, keyList);
  const { windowsKey, windowSets: sets } = windowIndex(tables);
  return {
    enabled: tables.on,
    rejectOnExceed: b.reject_on_exceed,
    hardStopPct: b.hard_stop_pct,
    timeZone: b.timezone,
    ...(b.fallback_model_on_exceed !== undefined ? { fallbackModel: b.fallback_model_on_exceed } : {}),
    perRequest: perRequestRules(b, tables.on),
    rollingWindows: rollingWindows(tables),
    windowsKey,
    windowSets: sets,
    namedScopes: [...sets].flatMap(([id, windows]) => (windows.size > 0 && !id.endsWith(":*") ? [id] : [])),
    ...scopeLookups(tables),
  };
}

/** Every scope's limits as lookup tables; model tables are keyed `owner\nmodel`. */
interface LimitTables {
  /** budget.enabled: when false, the tables hold only quotas and rate limits. */
  on: boolean;
  workspace: readonly Limit[];
  workspaceModel: ReadonlyMap<string, readonly Limit[]>;
  teams: ReadonlyMap<string, readonly Limit[]>;
  teamModel: ReadonlyMap<string, readonly Limit[]>;
  projects: ReadonlyMap<string, readonly Limit[]>;
  projectModel: ReadonlyMap<string, readonly Limit[]>;
  projectTeam: ReadonlyMap<string, string | undefined>;
  keys: ReadonlyMap<string, readonly Limit[]>;
  users: ReadonlyMap<string, readonly Limit[]>;
  defaultUser: readonly Limit[];
  runLimits: readonly Limit[];
}

function compileLimits(config: Config, keyList: readonly KeyLimits[]): LimitTables {
  const b = config.budget;
  const on = b.enabled;
  const budgets = (limits: Limit[]): readonly Limit[] => (on ? limits : NO_LIMITS);

  const workspace = [...budgets(scopeLimits(b))];
  if (b.quota?.requests_per_month !== undefined) {
    workspace.push({ window: MONTH, unit: "requests", amount: b.quota.requests_per_month, kind: "quota" });
  }
  const perUser = b.per_user_limits;
  const usersOn = on && perUser?.enabled === true;
  return {
    on,
    workspace,
    workspaceModel: modelLimitTable({ "": b }),
    teams: new Map(Object.entries(config.teams ?? {}).map(([n, t]) => [n, budgets(scopeLimits(t))])),
    teamModel: modelLimitTable(config.teams),
    projects: new Map(Object.entries(config.projects ?? {}).map(([n, p]) => [n, budgets(scopeLimits(p))])),
    projectModel: modelLimitTable(config.projects),
    projectTeam: new Map(Object.entries(config.projects ?? {}).map(([n, p]) => [n, p?.team])),
    keys: new Map(keyList.map((k) => [k.name, clientKeyLimits(k, budgets(periodLimits(k)))])),
    users: new Map(
      Object.entries(perUser?.user_limits ?? {}).map(([u, l]) => [u, usersOn ? periodLimits(l) : NO_LIMITS]),
    ),
    defaultUser: usersOn ? periodLimits(perUser?.default) : NO_LIMITS,
    runLimits: budgets(perRunLimits(b)),
  };
}

/** A key's budgets, then its rate limits, which hold even with budgets off. */
function clientKeyLimits(k: KeyLimits, budgets: readonly Limit[]): Limit[] {
  const limits = [...budgets];
  const rate = k.rate_limit;
  if (rate?.requests_per_minute !== undefined) {
    limits.push({ window: MINUTE, unit: "requests", amount: rate.requests_per_minute, kind: "rate" });
  }
  if (rate?.tokens_per_minute !== undefined) {
    limits.push({ window: MINUTE, unit: "tokens", amount: rate.tokens_per_minute, kind: "rate" });
  }
  return limits;
}

function perRunLimits(b: Config["budget"]): Limit[] {
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
  return run;
}

function perRequestRules(b: Config["budget"], on: boolean): PerRequestRules {
  const pr = b.per_request;
  const perRequest: PerRequestRules = {};
  if (on && pr?.max_cost_cents !== undefined) perRequest.maxCost = centsToMicros(pr.max_cost_cents);
  if (on && pr?.max_input_tokens !== undefined) perRequest.maxInputTokens = pr.max_input_tokens;
  if (on && pr?.max_output_tokens !== undefined) perRequest.maxOutputTokens = pr.max_output_tokens;
  return perRequest;
}

/** Policy.rollingWindows: model limits are calendar-only, so only these tables can hold rolling ones. */
function rollingWindows(t: LimitTables): WindowSpec[] {
  const rolling = new Map<string, WindowSpec>();
  for (const limits of [t.workspace, ...t.teams.values(), ...t.projects.values(), ...t.keys.values()]) {
    for (const l of limits) if (l.window.kind === "rolling") rolling.set(l.window.label, l.window);
  }
  return [...rolling.values()];
}

/** Policy.windowsKey and Policy.windowSets; model tables count only when budgets are on. */
function windowIndex(t: LimitTables): { windowsKey: string; windowSets: Map<string, ReadonlySet<string>> } {
  const windowsKey = digestWindows(
    [t.workspace, t.defaultUser, t.runLimits],
    [t.teams, t.projects, t.keys, t.users, ...(t.on ? [t.workspaceModel, t.projectModel, t.teamModel] : [])],
  );
  const named = (kind: "team" | "project" | "key" | "user") => (name: string) =>
    formatScopeId({ kind, name });
  const sets = windowSets({ workspace: t.workspace, "user:*": t.defaultUser, "run:*": t.runLimits }, [
    [named("team"), t.teams],
    [named("project"), t.projects],
    [named("key"), t.keys],
    [named("user"), t.users],
    ...(t.on
      ? ([
          [modelScopeId("model"), t.workspaceModel],
          [modelScopeId("project_model"), t.projectModel],
          [modelScopeId("team_model"), t.teamModel],
        ] as const)
      : []),
  ]);
  return { windowsKey, windowSets: sets };
}

/** The per-request half of the Policy: resolving identities to scopes, through caches built here once. */
function scopeLookups(
  t: LimitTables,
): Pick<Policy, "scopesFor" | "scopeById" | "forgetScopes" | "limitsById"> {
  const { on, workspace, workspaceModel, teams, teamModel, projects, projectModel, projectTeam } = t;
  const { keys, users, defaultUser, runLimits } = t;
  const lookup = (table: ReadonlyMap<string, readonly Limit[]>, name: string) =>
    on ? (table.get(name) ?? NO_LIMITS) : NO_LIMITS;

  const WORKSPACE: Scope = { id: "workspace", kind: "workspace", name: "workspace", limits: workspace };
  const limitsOf = (ref: ScopeRef): readonly Limit[] => {
    switch (ref.kind) {
      case "workspace":
        return workspace;
      case "request":
        return NO_LIMITS;
      case "run":
        return runLimits;
      case "key":
        return keys.get(ref.name) ?? NO_LIMITS;
      case "user":
        return users.get(ref.name) ?? defaultUser;
      case "project":
        return projects.get(ref.name) ?? NO_LIMITS;
      case "team":
        return teams.get(ref.name) ?? NO_LIMITS;
      case "model":
        return lookup(workspaceModel, `\n${ref.name}`);
      case "project_model":
        return lookup(projectModel, `${ref.name}\n${ref.model}`);
      case "team_model":
        return lookup(teamModel, `${ref.name}\n${ref.model}`);
    }
  };
  // Scope objects are reused: resolving a request allocates no new ones, and
  // their id strings hash once for the counters' maps. Bounded, so a flood of
  // distinct user ids cannot grow it without end.
  const cache = new Map<string, Scope>();
  const scopeOf = (ref: ScopeRef, id: string = formatScopeId(ref)): Scope => {
    if (ref.kind === "workspace") return WORKSPACE;
    let scope = cache.get(id);
    if (!scope) {
      if (cache.size >= 100_000) cache.clear();
      scope = { id, kind: ref.kind, name: scopeName(ref), limits: limitsOf(ref) };
      cache.set(id, scope);
    }
    return scope;
  };

  const resolve = (identity: Identity, model: string): readonly Scope[] => {
    const { run, key, user, project } = identity;
    const team =
      identity.team === null
        ? undefined
        : (identity.team ?? (project !== undefined ? projectTeam.get(project) : undefined));
    const scopes: Scope[] = [];
    if (run !== undefined) scopes.push(scopeOf({ kind: "run", name: run }));
    if (key !== undefined) scopes.push(scopeOf({ kind: "key", name: key }));
    if (user !== undefined) scopes.push(scopeOf({ kind: "user", name: user }));
    if (project !== undefined)
      scopes.push(
        scopeOf({ kind: "project_model", name: project, model }),
        scopeOf({ kind: "project", name: project }),
      );
    if (team !== undefined)
      scopes.push(scopeOf({ kind: "team_model", name: team, model }), scopeOf({ kind: "team", name: team }));
    scopes.push(scopeOf({ kind: "model", name: model }), WORKSPACE);
    return scopes;
  };
  const resolved = new Map<string, readonly Scope[]>();
  // Length-prefixed, so that no choice of user or run id (client input) can spell another identity's key.
  const part = (v: string | undefined | null) =>
    v === undefined ? "-" : v === null ? "!" : `${v.length}:${v}`;

  return {
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
      const ref = parseScopeId(id);
      // The per-request rules are no scope the ledger counts.
      return ref === undefined || ref.kind === "request" ? undefined : scopeOf(ref, id);
    },
    forgetScopes(keep) {
      if (cache.size > keep) cache.clear();
      if (resolved.size > keep) resolved.clear();
    },
    limitsById(id) {
      const ref = parseScopeId(id);
      return ref === undefined ? undefined : limitsOf(ref);
    },
  };
}
