import type { ErrorObject } from "ajv";
import { formatPath, type PathSegment, type Problem } from "./problem.js";
import { allowedKeys, type JsonSchema, pointerToPath } from "./schema.js";
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

/** Turns ajv's errors into one clear problem each, at the right line. */
export function schemaProblems(errors: readonly ErrorObject[], source: Source): Problem[] {
  // An anyOf failure explains itself; its branches' errors are noise. `if`
  // failures repeat the `then` error they wrap.
  const anyOfPaths = errors.filter((e) => e.keyword === "anyOf").map((e) => `${e.schemaPath}/`);
  const relevant = errors.filter(
    (e) => e.keyword !== "if" && !anyOfPaths.some((prefix) => e.schemaPath.startsWith(prefix)),
  );

  const problems = relevant.map((e) => toProblem(e, source));
  const seen = new Set<string>();
  return problems.filter((p) => {
    const id = `${p.path}|${p.message}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
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
      return at(path, `missing required key \`${key}\``, `add \`${key}:\` here`);
    }
    case "type": {
      const expected = String(e.params.type)
        .split(",")
        .map((t) => TYPE_NAMES[t] ?? t)
        .join(" or ");
      return at(path, `must be ${expected}, got ${describeValue(e.data)}`, description);
    }
    case "exclusiveMinimum":
      return e.params.limit === 0
        ? at(
            path,
            "must be greater than 0",
            "a limit of 0 blocks everything; remove the key to have no limit",
          )
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
