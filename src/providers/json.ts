/** Small readers for untyped JSON bodies, so the wire-format code stays free of `any`. */
export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function obj(value: unknown): Json {
  return isObject(value) ? value : {};
}

export function arr(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

export function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * `text` (the JSON of `parsed`, an object) with one more member `name`
 * (a plain identifier) set to a number, written in without re-serialising the
 * rest: on the request path that saves a JSON.stringify of the whole body.
 * Undefined when `parsed` already has `name`: a second member of the same
 * name would be read differently by different parsers.
 */
export function withMember(text: string, parsed: Json, name: string, value: number): string | undefined {
  if (name in parsed) return undefined;
  // Only whitespace may follow an object's closing brace.
  const end = text.lastIndexOf("}");
  if (end < 0) return undefined;
  const comma = Object.keys(parsed).length > 0 ? "," : "";
  return `${text.slice(0, end)}${comma}"${name}":${value}${text.slice(end)}`;
}
