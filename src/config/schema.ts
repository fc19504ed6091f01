import { readFileSync } from "node:fs";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import type { PathSegment } from "./problem.js";

export type JsonSchema = { [key: string]: unknown };

export const configSchema: JsonSchema = JSON.parse(
  readFileSync(new URL("../../schemas/config.schema.json", import.meta.url), "utf8"),
);

let compiled: ValidateFunction | undefined;

/** Validates in place: ajv fills schema defaults into `data`. */
export function validateAgainstSchema(data: unknown): ErrorObject[] {
  compiled ??= new Ajv2020({
    allErrors: true,
    verbose: true,
    useDefaults: true,
    strict: true,
    strictRequired: false,
  }).compile(configSchema);
  return compiled(data) ? [] : [...(compiled.errors ?? [])];
}

/** "/keys/0/project" → ["keys", 0, "project"] */
export function pointerToPath(pointer: string): PathSegment[] {
  if (pointer === "") return [];
  return pointer
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((s) => (/^(0|[1-9]\d*)$/.test(s) ? Number(s) : s));
}

/** The property names a schema node allows, following local $refs and allOf. */
export function allowedKeys(node: unknown, root: JsonSchema = configSchema): string[] {
  if (node === null || typeof node !== "object") return [];
  const schema = node as JsonSchema;
  const keys = Object.keys((schema.properties as JsonSchema | undefined) ?? {});
  const ref = schema.$ref;
  if (typeof ref === "string" && ref.startsWith("#/")) {
    const target = pointerToPath(ref.slice(1)).reduce<unknown>(
      (n, seg) => (n as JsonSchema | undefined)?.[String(seg)],
      root,
    );
    keys.push(...allowedKeys(target, root));
  }
  for (const sub of (schema.allOf as unknown[] | undefined) ?? []) keys.push(...allowedKeys(sub, root));
  return [...new Set(keys)];
}

/** A local $ref's target ("#/$defs/count"), or the node itself. */
function deref(node: unknown, root: JsonSchema): JsonSchema | undefined {
  if (node === null || typeof node !== "object") return undefined;
  const ref = (node as JsonSchema).$ref;
  if (typeof ref !== "string" || !ref.startsWith("#/")) return node as JsonSchema;
  return pointerToPath(ref.slice(1)).reduce<unknown>(
    (n, seg) => (n as JsonSchema | undefined)?.[String(seg)],
    root,
  ) as JsonSchema | undefined;
}

/**
 * The default the schema gives the value at `path`, if any: read where the
 * property is declared (its `default` sits beside the `$ref`), following
 * properties, additionalProperties, items and local $refs.
 */
export function schemaDefaultAt(path: readonly PathSegment[], root: JsonSchema = configSchema): unknown {
  let node: unknown = root;
  for (const seg of path) {
    const here = deref(node, root);
    if (!here) return undefined;
    const props = here.properties as JsonSchema | undefined;
    node =
      typeof seg === "number"
        ? here.items
        : (props?.[seg] ??
          (typeof here.additionalProperties === "object" ? here.additionalProperties : undefined));
    if (node === undefined) return undefined;
  }
  return node !== null && typeof node === "object" ? (node as JsonSchema).default : undefined;
}
