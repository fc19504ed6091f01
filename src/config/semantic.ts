import { createHash } from "node:crypto";
import { formatCents } from "../money/money.js";
import { isLoopbackHost } from "../net/loopback.js";
import { CLIENT_RUN_TOOL_TYPES, HOSTED_TOOL_KINDS, toolKind } from "../pricing/tool-kinds.js";
import { formatPath, type PathSegment, type Problem } from "./problem.js";
import type { Source } from "./source.js";
import { closest } from "./suggest.js";
import type { Config, ResolvedModel, ResolvedPeriodLimits } from "./types.generated.js";

/** The warning of a config without keys; the key store may hold some (then the proxy is not in open mode). */
export const OPEN_MODE_WARNING =
  "no client keys configured: open mode, the bearer token is taken as the user id";

/** The warnings that still hold when the key store has keys the config does not. */
export function withStoredKeys(warnings: Problem[]): Problem[] {
  return warnings.filter((w) => !(w.path === "keys" && w.message === OPEN_MODE_WARNING));
}

export function isValidTimezone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Worst-case output cost of one request in cents, when the model states its output cap. */
export function maxRequestCents(model: ResolvedModel): number | undefined {
  if (model.max_output_tokens === undefined || model.estimated_output_cost_per_1k === undefined)
    return undefined;
  return (model.max_output_tokens / 1000) * model.estimated_output_cost_per_1k;
}

/**
 * The URL scheme of a price source that sync-pricing cannot read (`ftp`,
 * `s3`), or undefined for http:, https:, file: and plain paths. A one-letter
 * "scheme" is a Windows drive (`C:\\prices.json`), a path.
 */
export function unsupportedSourceScheme(source: string): string | undefined {
  const scheme = /^([a-z][a-z0-9+.-]+):/i.exec(source)?.[1]?.toLowerCase();
  return scheme === undefined || ["http", "https", "file"].includes(scheme) ? undefined : scheme;
}

/** Checks that need the whole config: references between sections, and choices that are legal but unwise. */
export function semanticProblems(config: Config, source: Source): Problem[] {
  const problems: Problem[] = [];
  const r = reporter(source, problems);
  const models = entries(config.models);
  const users = perUserLimits(config.budget);
  // The problems are listed in the order they are found, and tests (and
  // operators diffing validate-config output) compare those lists: keep the order.
  checkReferences(config, models, r);
  checkKeys(config, r);
  reconcileFilters(config, r.error, r.warn);
  checkTimezone(config.budget, r);
  warnModelPrices(config, models, r);
  warnPerUserLimits(config.budget, users, r);
  warnDailyCapsBelowDearest(config, models, users, r);
  warnToolPrices(config, models, r);
  warnAdminToken(config, source, r);
  warnOpenMode(config, r);
  checkPriceSources(config, r);
  warnAlertTargets(config, r);
  return problems;
}

type Report = (path: PathSegment[], message: string, hint?: string) => void;

interface Reporter {
  /** `at: "key"` when the problem is the mapping key itself, not its value. */
  error: (path: PathSegment[], message: string, hint?: string, at?: "key" | "value") => void;
  warn: Report;
  /** A name that refers to nothing defined, with the closest defined name as a hint. */
  missingRef: (
    path: PathSegment[],
    kind: string,
    name: string,
    defined: string[],
    at?: "key" | "value",
  ) => void;
}

/** Reports into `problems`, each located in the file as the source has it. */
function reporter(source: Source, problems: Problem[]): Reporter {
  const report = (
    severity: Problem["severity"],
    path: PathSegment[],
    message: string,
    hint?: string,
    at: "key" | "value" = "value",
  ): void => {
    problems.push({
      severity,
      path: formatPath(path),
      ...source.locate(path, at),
      message,
      ...(hint ? { hint } : {}),
    });
  };
  const error = (path: PathSegment[], message: string, hint?: string, at?: "key" | "value") =>
    report("error", path, message, hint, at);
  const warn = (path: PathSegment[], message: string, hint?: string) =>
    report("warning", path, message, hint);
  const missingRef = (
    path: PathSegment[],
    kind: string,
    name: string,
    defined: string[],
    at: "key" | "value" = "value",
  ) => {
    const suggestion = closest(name, defined);
    error(
      path,
      `${kind} \`${name}\` is not defined`,
      suggestion
        ? `did you mean \`${suggestion}\`?`
        : defined.length > 0
          ? `defined ${kind}s: ${defined.join(", ")}`
          : `add it under \`${kind}s:\``,
      at,
    );
  };
  return { error, warn, missingRef };
}

type Budget = Config["budget"];
type NamedModel = [string, ResolvedModel];
type UserLimits = [PathSegment[], ResolvedPeriodLimits][];

/** Models name providers, the fallback and model_limits name models, projects name teams. */
function checkReferences(config: Config, models: NamedModel[], r: Reporter): void {
  const modelNames = models.map(([name]) => name);
  const providerNames = Object.keys(config.providers ?? {});
  const teamNames = Object.keys(config.teams ?? {});
  const budget = config.budget;
  for (const [name, model] of models) {
    if (!providerNames.includes(model.provider)) {
      r.missingRef(["models", name, "provider"], "provider", model.provider, providerNames);
    }
  }
  if (
    budget.fallback_model_on_exceed !== undefined &&
    !modelNames.includes(budget.fallback_model_on_exceed)
  ) {
    r.missingRef(
      ["budget", "fallback_model_on_exceed"],
      "model",
      budget.fallback_model_on_exceed,
      modelNames,
    );
  }
  for (const [name, project] of entries(config.projects)) {
    if (project.team !== undefined && !teamNames.includes(project.team)) {
      r.missingRef(["projects", name, "team"], "team", project.team, teamNames);
    }
  }
  const scopesWithModelLimits: [PathSegment[], Record<string, unknown> | undefined][] = [
    [["budget"], budget.model_limits],
    ...entries(config.teams).map(([n, t]): [PathSegment[], Record<string, unknown> | undefined] => [
      ["teams", n],
      t.model_limits,
    ]),
    ...entries(config.projects).map(([n, p]): [PathSegment[], Record<string, unknown> | undefined] => [
      ["projects", n],
      p.model_limits,
    ]),
  ];
  for (const [scope, limits] of scopesWithModelLimits) {
    for (const model of Object.keys(limits ?? {})) {
      if (!modelNames.includes(model))
        r.missingRef([...scope, "model_limits", model], "model", model, modelNames, "key");
    }
  }
}

/** Every client key names a defined project (and its team), has exactly one secret, and is unique. */
function checkKeys(config: Config, r: Reporter): void {
  const projectNames = Object.keys(config.projects ?? {});
  const teamNames = Object.keys(config.teams ?? {});
  const secrets = new Map<string, number>();
  const keyNames = new Map<string, number>();
  for (const [i, key] of (config.keys ?? []).entries()) {
    if (!projectNames.includes(key.project))
      r.missingRef(["keys", i, "project"], "project", key.project, projectNames);
    if (key.team !== undefined) {
      if (!teamNames.includes(key.team)) r.missingRef(["keys", i, "team"], "team", key.team, teamNames);
      const projectTeam = config.projects?.[key.project]?.team;
      if (projectTeam !== undefined && projectTeam !== key.team) {
        r.error(
          ["keys", i, "team"],
          `team \`${key.team}\` differs from project ${key.project}'s team \`${projectTeam}\``,
        );
      }
    }
    if ((key.key === undefined) === (key.key_sha256 === undefined)) {
      r.error(
        ["keys", i],
        key.key === undefined
          ? `key \`${key.name}\` has no secret`
          : `key \`${key.name}\` has both key and key_sha256`,
        "give exactly one: `key: ${ENV_VAR}` or `key_sha256: <hex sha-256 of the secret>`",
      );
    }
    const digest = key.key !== undefined ? sha256(key.key) : key.key_sha256?.toLowerCase();
    if (digest !== undefined) {
      const first = secrets.get(digest);
      if (first !== undefined) {
        const other = config.keys?.[first]?.name ?? String(first);
        r.error(
          ["keys", i, key.key !== undefined ? "key" : "key_sha256"],
          `key \`${key.name}\` has the same secret as key \`${other}\` (keys[${first}])`,
          "every client key must be unique, or spend cannot be attributed",
        );
      } else secrets.set(digest, i);
    }
    const firstName = keyNames.get(key.name);
    if (firstName !== undefined) {
      r.error(["keys", i, "name"], `key name \`${key.name}\` is already used by keys[${firstName}]`);
    } else keyNames.set(key.name, i);
  }
}

function checkTimezone(budget: Budget, r: Reporter): void {
  if (!isValidTimezone(budget.timezone)) {
    r.error(
      ["budget", "timezone"],
      `unknown time zone \`${budget.timezone}\``,
      "use an IANA name such as UTC or Europe/Berlin",
    );
  }
}

/** No models at all, or a fallback model dearer than a model it would replace. */
function warnModelPrices(config: Config, models: NamedModel[], r: Reporter): void {
  if (models.length === 0)
    r.warn(["models"], "no models configured: every request will be refused", "add a model under `models:`");

  const fallback = config.budget.fallback_model_on_exceed;
  const fallbackModel = fallback !== undefined ? config.models?.[fallback] : undefined;
  if (fallback === undefined || !fallbackModel) return;
  for (const [name, model] of models) {
    // A free model always fits, so the fallback never stands in for it.
    const free =
      (model.estimated_input_cost_per_1k ?? 0) === 0 && (model.estimated_output_cost_per_1k ?? 0) === 0;
    if (name === fallback || free) continue;
    const dearer = (["estimated_input_cost_per_1k", "estimated_output_cost_per_1k"] as const).filter(
      (price) => (fallbackModel[price] ?? 0) > (model[price] ?? Number.POSITIVE_INFINITY),
    );
    if (dearer.length > 0) {
      r.warn(
        ["budget", "fallback_model_on_exceed"],
        `fallback model \`${fallback}\` costs more than \`${name}\`, which it would replace (${dearer.join(", ")})`,
        "the fallback should be cheaper than every model it stands in for",
      );
    }
  }
}

/** The per-user limits with their paths: the default first, then each listed user. */
function perUserLimits(budget: Budget): UserLimits {
  const perUser = budget.per_user_limits;
  return [
    ...(perUser?.default
      ? [[["budget", "per_user_limits", "default"], perUser.default] as [PathSegment[], ResolvedPeriodLimits]]
      : []),
    ...entries(perUser?.user_limits).map(([u, l]): [PathSegment[], ResolvedPeriodLimits] => [
      ["budget", "per_user_limits", "user_limits", u],
      l,
    ]),
  ];
}

function warnPerUserLimits(budget: Budget, users: UserLimits, r: Reporter): void {
  for (const [path, limits] of users) {
    for (const window of ["daily", "monthly"] as const) {
      const key = `${window}_limit_cents` as const;
      const own = limits[key];
      const workspace = budget[key];
      if (own !== undefined && workspace !== undefined && own > workspace) {
        r.warn(
          [...path, key],
          `per-user ${window} limit ${formatCents(own)} is larger than the workspace ${window} limit ${formatCents(workspace)}`,
          "one user could use the whole budget; split it: total / users × 1.2 (the recipe's pitfall 3)",
        );
      }
    }
  }
}

/** Daily caps, of any scope, that one request to the dearest model could exceed on its own. */
function warnDailyCapsBelowDearest(
  config: Config,
  models: NamedModel[],
  users: UserLimits,
  r: Reporter,
): void {
  const dearest = models
    .map(([name, model]) => ({ name, model, cents: maxRequestCents(model) }))
    .filter((m): m is { name: string; model: ResolvedModel; cents: number } => m.cents !== undefined)
    .sort((a, b) => b.cents - a.cents)[0];
  if (!dearest) return;
  const dailyCaps: [PathSegment[], number | undefined][] = [
    [["budget", "daily_limit_cents"], config.budget.daily_limit_cents],
    ...users.map(([p, l]): [PathSegment[], number | undefined] => [
      [...p, "daily_limit_cents"],
      l.daily_limit_cents,
    ]),
    ...entries(config.teams).map(([n, t]): [PathSegment[], number | undefined] => [
      ["teams", n, "daily_limit_cents"],
      t.daily_limit_cents,
    ]),
    ...entries(config.projects).map(([n, p]): [PathSegment[], number | undefined] => [
      ["projects", n, "daily_limit_cents"],
      p.daily_limit_cents,
    ]),
    ...(config.keys ?? []).map((k, i): [PathSegment[], number | undefined] => [
      ["keys", i, "daily_limit_cents"],
      k.daily_limit_cents,
    ]),
  ];
  for (const [path, cap] of dailyCaps) {
    if (cap !== undefined && cap < dearest.cents) {
      r.warn(
        path,
        `daily cap ${formatCents(cap)} is below the most expensive single request: ${dearest.name} at max_output_tokens ${dearest.model.max_output_tokens} costs up to ${formatCents(dearest.cents)}`,
        "such requests will have max_tokens clamped or be refused; leave room for two of them (the recipe's pitfall 4)",
      );
    }
  }
}

/** Tool prices that are never used, and built-in tools that go uncharged. */
function warnToolPrices(config: Config, models: NamedModel[], r: Reporter): void {
  for (const [name, model] of models) {
    for (const kind of Object.keys(model.tool_call_cents ?? {})) {
      const problem = toolPriceProblem(kind);
      if (problem) r.warn(["models", name, "tool_call_cents", kind], problem.message, problem.hint);
    }
  }
  if (config.pricing.unknown_tool === "allow") {
    r.warn(
      ["pricing", "unknown_tool"],
      "built-in tools without a price in models.<m>.tool_call_cents go through uncharged: their calls count against no budget until reconcile-spend brings in the provider's bill",
      "set tool_call_cents for the tools your clients use",
    );
  }
}

/** An admin token short enough to guess, or readable by whoever reads the file. */
function warnAdminToken(config: Config, source: Source, r: Reporter): void {
  const adminToken = config.server.admin_token;
  if (adminToken !== undefined && adminToken !== "" && adminToken.length < 16) {
    r.warn(
      ["server", "admin_token"],
      `the admin token is ${adminToken.length} characters long: whoever reaches the proxy port can try to guess it, and it changes keys and budgets`,
      "use a long random value, e.g. `openssl rand -hex 32`, through ${ENV}",
    );
  }
  const written = adminTokenWritten(source.data);
  if (written !== undefined) r.warn(["server", "admin_token"], written.message, written.hint);
}

function warnOpenMode(config: Config, r: Reporter): void {
  if ((config.keys ?? []).length === 0) {
    r.warn(
      ["keys"],
      OPEN_MODE_WARNING,
      "fine on loopback for development; configure `keys:` before exposing the proxy",
    );
  }
}

/** Price sources sync-pricing cannot read, or reads over plain http. */
function checkPriceSources(config: Config, r: Reporter): void {
  for (const [provider, url] of Object.entries(config.pricing.sources)) {
    const unsupported = unsupportedSourceScheme(url);
    if (unsupported !== undefined) {
      r.error(
        ["pricing", "sources", provider],
        `price source scheme \`${unsupported}:\` is not supported: sync-pricing reads http:, https:, file: URLs and local paths`,
        "use an https: URL, or download the file and name its path",
      );
      continue;
    }
    const host = url.startsWith("http:") ? safeHost(url) : undefined;
    if (host !== undefined && !isLoopbackHost(host)) {
      r.warn(
        ["pricing", "sources", provider],
        `price source ${host} is plain http: whoever is on the path can set your prices`,
        "use an https: URL or a local file",
      );
    }
  }
}

/** Alert targets that will only reach the alerts log: mailto without SMTP, webhooks over plain http. */
function warnAlertTargets(config: Config, r: Reporter): void {
  const budget = config.budget;
  const webhooks = budget.alert_webhook === undefined ? [] : [budget.alert_webhook].flat();
  for (const [i, target] of webhooks.entries()) {
    const path: PathSegment[] = Array.isArray(budget.alert_webhook)
      ? ["budget", "alert_webhook", i]
      : ["budget", "alert_webhook"];
    if (target.startsWith("mailto:") && config.alerts.smtp === undefined) {
      r.warn(
        path,
        `alert target ${target} needs alerts.smtp, which is not configured: these alerts only reach the alerts log`,
        "add alerts.smtp: {host, port, user, password: ${SMTP_PASSWORD}}",
      );
    }
    if (!target.startsWith("http:")) continue;
    const host = safeHost(target);
    if (host !== undefined && !isLoopbackHost(host)) {
      r.warn(
        path,
        `alert webhook ${host} is plain http: alerts are not sent unencrypted, only logged`,
        "use an https: URL",
      );
    }
  }
}

/**
 * Why a `tool_call_cents` key would not price what it seems to: a tool the
 * client runs (tokens only), an alias priced under another key, or a type
 * tokenpak does not know (most likely a typo). The lists are the proxy's own
 * (src/pricing/tool-kinds.ts).
 */
function toolPriceProblem(kind: string): { message: string; hint: string } | undefined {
  if (HOSTED_TOOL_KINDS.includes(kind)) return undefined;
  const builtins = `built-in tools: ${HOSTED_TOOL_KINDS.join(", ")}`;
  if (CLIENT_RUN_TOOL_TYPES.includes(kind)) {
    return {
      message: `\`${kind}\` tools run at the client and cost only tokens: this price is never used`,
      hint: builtins,
    };
  }
  if (toolKind(kind) !== kind) {
    return {
      message: `\`${kind}\` is priced as \`${toolKind(kind)}\`: this price is never used`,
      hint: `did you mean \`${toolKind(kind)}\`?`,
    };
  }
  const suggestion = closest(kind, HOSTED_TOOL_KINDS);
  return {
    message: `\`${kind}\` is not a tool type tokenpak knows: this price is used only by requests that enable a tool of type \`${kind}\``,
    hint: suggestion ? `did you mean \`${suggestion}\`?` : builtins,
  };
}

/** The filter each provider's admin API takes (reconcile-spend): OpenAI projects, Anthropic workspaces. */
const RECONCILE_FILTER: Readonly<Record<string, "project_ids" | "workspace_ids" | undefined>> = {
  openai: "project_ids",
  anthropic: "workspace_ids",
};

/** reconcile-spend compares only the traffic the filter names; each provider has its own kind of filter. */
function reconcileFilters(config: Config, error: Report, warn: Report): void {
  for (const [name, provider] of entries(config.providers)) {
    const filter = RECONCILE_FILTER[provider.type];
    const r = provider.reconcile;
    for (const key of ["project_ids", "workspace_ids"] as const) {
      if (r?.[key] === undefined || key === filter) continue;
      error(
        ["providers", name, "reconcile", key],
        `${key} filters ${key === "project_ids" ? "OpenAI" : "Anthropic"}'s reports; provider ${name} is ${provider.type}`,
        filter
          ? `use ${filter}`
          : "this provider has no admin API: reconcile it from a CSV file (--from-file)",
      );
    }
    if (filter && provider.admin_api_key && r?.[filter] === undefined) {
      warn(
        ["providers", name, "admin_api_key"],
        `no reconcile.${filter}: reconcile-spend compares the whole organisation's ${name} bill, so traffic that never went through tokenpak counts as drift`,
        `give tokenpak's provider key its own ${filter === "project_ids" ? "project" : "workspace"} and list it in reconcile.${filter}`,
      );
    }
  }
}

function entries<T>(record: { [k: string]: T | undefined } | undefined): [string, T][] {
  return Object.entries(record ?? {}).filter((e): e is [string, T] => e[1] !== undefined);
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function safeHost(url: string): string | undefined {
  try {
    return new URL(url).hostname;
  } catch {
    return undefined;
  }
}

// ${NAME:-default} with a default that is not empty, as interpolate() reads it.
const WITH_DEFAULT = /\$\{([A-Za-z_][A-Za-z0-9_]*):-([^}]+)\}/;

/**
 * What is wrong with server.admin_token as the file writes it (before
 * ${ENV} is filled in): a literal token is in every copy of the file, and a
 * `${VAR:-default}` serves its default whenever VAR is unset — a token anyone
 * who has read the file (or the example it was copied from) knows. Warnings:
 * neither is invalid, but the token changes keys and budgets.
 */
function adminTokenWritten(raw: unknown): { message: string; hint: string } | undefined {
  const server =
    raw !== null && typeof raw === "object" ? (raw as Record<string, unknown>).server : undefined;
  const token =
    server !== null && typeof server === "object"
      ? (server as Record<string, unknown>).admin_token
      : undefined;
  if (typeof token !== "string" || token === "") return undefined;
  const fallback = WITH_DEFAULT.exec(token);
  if (fallback) {
    return {
      message: `the admin token falls back to a value written in the file when ${fallback[1]} is unset: whoever has read the file knows it, and it changes keys and budgets`,
      hint: `write \`\${${fallback[1]}}\` with no default (a start without it then fails), or \`\${${fallback[1]}:-}\` for no admin API when it is unset`,
    };
  }
  if (token.includes("${")) return undefined;
  return {
    message:
      "the admin token is written in the file: whoever reads it (a backup, the repository, a support bundle) can use the admin API",
    hint: "take it from the environment: `admin_token: ${TOKENPAK_ADMIN_TOKEN}`, set in the service's EnvironmentFile (mode 0600)",
  };
}
