import type { ErrorObject } from "ajv";
import { formatPath, type PathSegment, type Problem } from "./problem.js";
import { allowedKeys, type JsonSchema, pointerToPath, schemaAt } from "./schema.js";
import type { Source } from "./source.js";
import { closest } from "./suggest.js";

const TYPE_NAMES: Record<string, string> = {
  number: "a number",
  integer: "a whole number",
  string: "a string",
  boolean: "true or false",
  object: "a mapping (key: value lines)",
  array: "a list",
};

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return "nothing (an empty value)";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `${typeof value} ${JSON.stringify(value)}`;
}

/** Keys whose absence means "no limit": budgets, rates and per-request or per-run caps (not a model's). */
const LIMIT_KEY = /limit|_per_(minute|month)$|^max_(cost_cents|requests|input_tokens|output_tokens)$/;

/**
 * What to do about a 0 where only positive values are taken: a price of 0
 * is refused outright (never $0); a limit of 0
 * would block everything, and its key left out means no limit; any other
 * setting left out takes its default (named when its description gives it:
 * `context_window`'s is 1,048,576 tokens, not "none").
 */
function positiveHint(path: readonly PathSegment[]): string {
  const key = path.at(-1);
  // A price of 0 is neither "no limit" nor a default: it would let a model's spend through every budget unseen.
  if (typeof key === "string" && key.endsWith("_cost_per_1k")) {
    return "a price must be above 0: a model priced at $0 would pass every budget uncounted; give a small price instead";
  }
  if (typeof key === "string" && path[0] !== "models" && LIMIT_KEY.test(key)) {
    return "a limit must be positive (0 would block everything); remove the key to have no limit";
  }
  // A key with a default (a timeout, a window) does not go away when removed: it takes the default.
  const schema = schemaAt(path);
  const description = schema?.description;
  const stated =
    schema?.default !== undefined
      ? JSON.stringify(schema.default)
      : typeof description === "string"
        ? /Default: ([^.]*\d)/.exec(description)?.[1]
        : undefined;
  return `remove the key to use the default${stated !== undefined ? ` (${stated})` : ""}`;
}

/** Turns ajv's errors into one clear problem each, at the right line. */
export function schemaProblems(errors: readonly ErrorObject[], source: Source): Problem[] {
  // `if` failures repeat the `then` error they wrap.
  const relevant = pruneAnyOf(errors).filter((e) => e.keyword !== "if");

  const problems = relevant.map((e) => toProblem(e, source));
  const seen = new Set<string>();
  return problems.filter((p) => {
    const id = `${p.path}|${p.message}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/**
 * ajv reports each failed branch of an anyOf just before the anyOf error
 * itself (their schemaPath cannot tell them apart: a branch that is a $ref
 * reports the referenced schema's path). Only the branch the value was meant
 * for explains the problem: one that failed deeper inside the value (an item
 * of a list), else one that failed at the value for a reason other than its
 * type. When no branch stands out, the anyOf error speaks for them all.
 */
function pruneAnyOf(errors: readonly ErrorObject[]): ErrorObject[] {
  const drop = new Set<ErrorObject>();
  for (const [i, e] of errors.entries()) {
    if (e.keyword !== "anyOf") continue;
    const inside = (b: ErrorObject) =>
      b.instancePath === e.instancePath || b.instancePath.startsWith(`${e.instancePath}/`);
    const branches: ErrorObject[] = [];
    for (let j = i - 1; j >= 0; j--) {
      const b = errors[j];
      if (!b || !inside(b)) break;
      branches.push(b);
    }
    const deeper = branches.filter((b) => b.instancePath !== e.instancePath);
    const specific =
      deeper.length > 0
        ? deeper
        : branches.filter((b) => !["type", "const", "enum", "anyOf"].includes(b.keyword));
    const keep = new Set(specific.length > 0 ? specific : [e]);
    for (const b of [...branches, e]) if (!keep.has(b)) drop.add(b);
  }
  return errors.filter((e) => !drop.has(e));
}

function toProblem(e: ErrorObject, source: Source): Problem {
  const path = pointerToPath(e.instancePath);
  const parent = e.parentSchema as JsonSchema | undefined;
  const description = typeof parent?.description === "string" ? parent.description : undefined;
  const at = (
    p: PathSegment[],
    message: string,
    hint?: string,
    where: "key" | "value" = "value",
  ): Problem => ({
    severity: "error",
    path: formatPath(p),
    ...source.locate(p, where),
    message,
    ...(hint ? { hint } : {}),
  });

  switch (e.keyword) {
    case "additionalProperties":
    case "unevaluatedProperties": {
      const key = String(e.params.additionalProperty ?? e.params.unevaluatedProperty);
      const suggestion = closest(key, allowedKeys(parent));
      return at(
        [...path, key],
        `unknown key \`${key}\``,
        suggestion ? `did you mean \`${suggestion}\`?` : `allowed here: ${allowedKeys(parent).join(", ")}`,
        "key",
      );
    }
    case "required": {
      const key = String(e.params.missingProperty);
      // Point at the mapping's own key (`gpt-4:`), not at its first entry.
      return at(path, `missing required key \`${key}\``, `add \`${key}:\` here`, "key");
    }
    case "type": {
      const expected = String(e.params.type)
        .split(",")
        .map((t) => TYPE_NAMES[t] ?? t)
        .join(" or ");
      return at(
        path,
        `must be ${expected}, got ${describeValue(e.data)}`,
        // The root's description is the whole schema's blurb, no help here.
        path.length === 0
          ? "a config file is a mapping of sections: budget:, providers:, models:, …"
          : description,
      );
    }
    case "exclusiveMinimum":
      return e.params.limit === 0
        ? at(path, "must be greater than 0", positiveHint(path))
        : at(path, `must be greater than ${e.params.limit}`, description);
    case "minimum":
    case "maximum":
      return at(
        path,
        `must be ${e.keyword === "minimum" ? "at least" : "at most"} ${e.params.limit}`,
        description,
      );
    case "enum": {
      const allowed = (e.params.allowedValues as unknown[]).map(String);
      const suggestion = typeof e.data === "string" ? closest(e.data, allowed) : undefined;
      return at(
        path,
        `must be one of: ${allowed.join(", ")}; got ${describeValue(e.data)}`,
        suggestion ? `did you mean \`${suggestion}\`?` : description,
      );
    }
    case "pattern":
      return at(path, `${describeValue(e.data)} is not in the expected form`, description);
    case "anyOf":
      return at(path, `${describeValue(e.data)} is not allowed here`, description);
    case "uniqueItems":
      return at(path, "must not list the same value twice");
    case "minProperties":
      return at(path, "needs at least one limit next to `window`", "e.g. {window: 24h, limit_cents: 800}");
    default:
      return at(path, e.message ?? `fails ${e.keyword}`, description);
  }
}
