import type { PathSegment } from "./problem.js";

export interface MissingVariable {
  path: PathSegment[];
  name: string;
}

export interface Interpolated {
  data: unknown;
  missing: MissingVariable[];
  /** Paths whose whole value was one `${VAR}`: the only values that may be read as numbers or booleans. */
  whole: PathSegment[][];
}

// ${NAME} or ${NAME:-default}; $${ is an escaped literal "${".
const PATTERN = /\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces ${VAR} and ${VAR:-default} in every string value (never in keys).
 * As in the shell, `:-` also applies when the variable is set but empty.
 * A missing variable without a default is reported and left as written.
 */
export function interpolate(data: unknown, env: Readonly<Record<string, string | undefined>>): Interpolated {
  const missing: MissingVariable[] = [];
  const whole: PathSegment[][] = [];

  const visit = (value: unknown, path: PathSegment[]): unknown => {
    if (typeof value === "string") {
      if (!value.includes("${")) return value;
      let unresolved = false;
      const out = value.replace(PATTERN, (match, escaped, name: string, fallback: string | undefined) => {
        if (escaped) return match.slice(1);
        const set = env[name];
        if (set !== undefined && set !== "") return set;
        if (fallback !== undefined) return fallback;
        missing.push({ path, name });
        unresolved = true;
        return match;
      });
      if (!unresolved && /^\$\{[^}]+\}$/.test(value)) whole.push(path);
      return out;
    }
    if (Array.isArray(value)) return value.map((v, i) => visit(v, [...path, i]));
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, visit(v, [...path, k])]));
    }
    return value;
  };

  return { data: visit(data, []), missing, whole };
}
