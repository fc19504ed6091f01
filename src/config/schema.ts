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

/** Follows a local `$ref` to the schema it names. */
function resolve(node: unknown, root: JsonSchema): JsonSchema | undefined {
  if (node === null || typeof node !== "object") return undefined;
  const schema = node as JsonSchema;
  const ref = schema.$ref;
  if (typeof ref !== "string" || !ref.startsWith("#/")) return schema;
  const target = pointerToPath(ref.slice(1)).reduce<unknown>(
    (n, seg) => (n as JsonSchema | undefined)?.[String(seg)],
    root,
  );
  return resolve(target, root);
}

/**
 * The schema a config path is validated by, as written at that property (a
 * `$ref` not yet followed: its description is the property's own), through
 * properties, additionalProperties and items; undefined past what it knows.
 */
export function schemaAt(
  path: readonly PathSegment[],
  root: JsonSchema = configSchema,
): JsonSchema | undefined {
  let node: unknown = root;
  for (const seg of path) {
    const schema = resolve(node, root);
    if (!schema) return undefined;
    if (typeof seg === "number") node = schema.items;
    else {
      const properties = schema.properties as JsonSchema | undefined;
      node = properties && Object.hasOwn(properties, seg) ? properties[seg] : schema.additionalProperties;
    }
  }
  return node !== null && typeof node === "object" ? (node as JsonSchema) : undefined;
}
