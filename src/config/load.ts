import { readFile } from "node:fs/promises";
import type { ErrorObject } from "ajv";
import { TokenpakError } from "../errors.js";
import { interpolate } from "./interpolate.js";
import { formatPath, type PathSegment, type Problem } from "./problem.js";
import { pointerToPath, validateAgainstSchema } from "./schema.js";
import { schemaProblems } from "./schema-problems.js";
import { semanticProblems } from "./semantic.js";
import { parseSource, type Source } from "./source.js";
import type { Config } from "./types.generated.js";

export type Env = Readonly<Record<string, string | undefined>>;

export interface CheckResult {
  file: string;
  valid: boolean;
  errors: Problem[];
  warnings: Problem[];
  /** Present when valid: defaults applied, environment interpolated, frozen. */
  config?: Readonly<Config>;
  /** Where a JSON path is in the file (present when the YAML parsed), for problems found later. */
  locate?: Source["locate"];
}

/**
 * YAML (with positions) → ${VAR} interpolation → JSON Schema (defaults filled)
 * → semantic checks → frozen Config. Collects every problem instead of
 * stopping at the first, so one run shows the user all there is to fix:
 * the semantic checks run on the well-formed part even when the schema
 * rejects some of it.
 */
export function checkConfig(text: string, file: string, env: Env): CheckResult {
  const source = parseSource(file, text);
  if (source.syntaxErrors.length > 0) return result(file, source.syntaxErrors);

  const { data, missing, whole } = interpolate(source.data, env);
  const envProblems: Problem[] = missing.map(({ path, name }) => ({
    severity: "error",
    path: formatPath(path),
    ...source.locate(path),
    message: `environment variable ${name} is not set`,
    hint: `export ${name}=… or write \${${name}:-default}`,
  }));

  let errors = validateAgainstSchema(data);
  // A value that is exactly one ${VAR} may stand for a number or a boolean
  // (`port: ${PORT}`): environment variables are always strings.
  if (coerceWholeValues(data, errors, whole)) errors = validateAgainstSchema(data);
  const unresolved = new Set(missing.map((m) => formatPath(m.path)));
  const shapeProblems = schemaProblems(errors, source).filter((p) => !unresolved.has(p.path));

  if (envProblems.length > 0 || shapeProblems.length > 0) {
    const rest = semanticProblemsOfValidPart(data, errors, source);
    return result(file, [...envProblems, ...shapeProblems, ...rest]);
  }

  const config = data as Config;
  const problems = semanticProblems(config, source);
  return { ...result(file, problems, deepFreeze(config)), locate: source.locate };
}

/** Where a schema error's node is set aside: the property itself, or the whole list it lies in. */
function asideAt(e: ErrorObject): PathSegment[] {
  const path = pointerToPath(e.instancePath);
  if (e.keyword === "additionalProperties") path.push(String(e.params.additionalProperty));
  const item = path.findIndex((seg) => typeof seg === "number");
  // Removing one item would shift the indexes, and so the lines, of every problem after it.
  return item < 0 ? path : path.slice(0, item);
}

function removeAt(data: unknown, path: readonly PathSegment[]): boolean {
  const parent = path
    .slice(0, -1)
    .reduce<unknown>((n, seg) => (n as Record<string, unknown> | undefined)?.[seg], data);
  const last = path.at(-1);
  if (last === undefined || parent === null || typeof parent !== "object" || !(last in parent)) return false;
  delete (parent as Record<string | number, unknown>)[last];
  return true;
}

/**
 * The semantic errors of the well-formed part of a config, so one run
 * reports them together with the schema errors: every node the schema
 * rejects is set aside (the property, or the list it lies in), until the rest
 * is valid, and the whole-config checks run on that. What lies in, or refers
 * to, something set aside is left out: that has its own error already.
 */
function semanticProblemsOfValidPart(
  data: unknown,
  errors: readonly ErrorObject[],
  source: Source,
): Problem[] {
  const rest = structuredClone(data);
  const aside: PathSegment[][] = [];
  for (let pending = errors, round = 0; pending.length > 0; pending = validateAgainstSchema(rest), round++) {
    if (round === 8) return [];
    for (const e of pending) {
      const path = asideAt(e);
      if (path.length === 0) return []; // the config as a whole is not a mapping: nothing to check
      if (removeAt(rest, path)) aside.push(path);
    }
  }
  const paths = aside.map(formatPath);
  const names = new Set(aside.map((p) => String(p.at(-1))));
  const within = (p: Problem) =>
    paths.some((a) => p.path === a || p.path.startsWith(`${a}.`) || p.path.startsWith(`${a}[`));
  const refersAside = (p: Problem) => names.has(/`([^`]+)` is not defined/.exec(p.message)?.[1] ?? "");
  // Errors only: warnings about a config that cannot run yet would bury what must be fixed.
  return semanticProblems(rest as Config, source).filter(
    (p) => p.severity === "error" && !within(p) && !refersAside(p),
  );
}

/** Reads and checks a config file; throws a TokenpakError listing every problem. */
export async function loadConfig(
  file: string,
  env: Env,
): Promise<{ config: Readonly<Config>; warnings: Problem[] }> {
  const checked = checkConfig(await readConfigText(file), file, env);
  if (!checked.config) {
    const first = checked.errors[0];
    throw new TokenpakError(
      "config_invalid",
      `${file}: ${checked.errors.length} problem(s)${first ? `, first: ${first.path} ${first.message}` : ""}`,
      { problems: checked.errors },
    );
  }
  return { config: checked.config, warnings: checked.warnings };
}

export async function readConfigText(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === "ENOENT")
      throw new TokenpakError("config_not_found", `config file not found: ${file}`, { file });
    throw new TokenpakError("io_error", `cannot read config file ${file}: ${code ?? String(cause)}`, {
      file,
    });
  }
}

/** Thresholds in force: alert_threshold_pct and alert_thresholds_pct merged, default [80, 100]. */
export function alertThresholds(config: Config): number[] {
  const { alert_threshold_pct: one, alert_thresholds_pct: many } = config.budget;
  const all = [...(one !== undefined ? [one] : []), ...(many ?? [])];
  return all.length > 0 ? [...new Set(all)].sort((a, b) => a - b) : [80, 100];
}

function result(file: string, problems: Problem[], config?: Readonly<Config>): CheckResult {
  const errors = problems.filter((p) => p.severity === "error");
  const warnings = problems.filter((p) => p.severity === "warning");
  const sorted = (list: Problem[]) => list.sort((a, b) => a.line - b.line || a.col - b.col);
  return {
    file,
    valid: errors.length === 0,
    errors: sorted(errors),
    warnings: sorted(warnings),
    ...(errors.length === 0 && config ? { config } : {}),
  };
}

function coerceWholeValues(
  data: unknown,
  errors: readonly { keyword: string; instancePath: string; params: Record<string, unknown> }[],
  whole: readonly PathSegment[][],
): boolean {
  const wholePaths = new Set(whole.map(formatPath));
  let changed = false;
  for (const e of errors) {
    if (e.keyword !== "type") continue;
    const path = pointerToPath(e.instancePath);
    if (!wholePaths.has(formatPath(path))) continue;
    const parent = path.slice(0, -1).reduce<unknown>((n, seg) => (n as Record<string, unknown>)[seg], data);
    const last = path.at(-1);
    if (last === undefined || parent === null || typeof parent !== "object") continue;
    const holder = parent as Record<string | number, unknown>;
    const text = holder[last];
    const expected = String(e.params.type);
    if (typeof text !== "string") continue;
    if ((expected === "number" || expected === "integer") && /^-?\d+(\.\d+)?$/.test(text)) {
      holder[last] = Number(text);
      changed = true;
    } else if (expected === "boolean" && (text === "true" || text === "false")) {
      holder[last] = text === "true";
      changed = true;
    }
  }
  return changed;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
