/** One thing wrong (or worth a warning) in a config file, pinned to where it is. */
export interface Problem {
  severity: "error" | "warning";
  /** JSON path in dotted form: `budget.per_user_limits.user_limits.user-a.daily_limit_cents`, `keys[0].project`. */
  path: string;
  line: number;
  col: number;
  message: string;
  hint?: string;
}

export type PathSegment = string | number;

export function formatPath(path: readonly PathSegment[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[\w-]+$/.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out === "" ? "(root)" : out;
}

const plain = (text: string) => text;

/**
 * A problem as validate-config prints it, `FILE:LINE:COL  path  message (hint)`:
 * also what a refused reload returns and logs, so the two read the same.
 */
export function problemLine(
  file: string,
  p: Problem,
  style: { bold?: (text: string) => string; dim?: (text: string) => string } = {},
): string {
  const bold = style.bold ?? plain;
  const dim = style.dim ?? plain;
  return `${file}:${p.line}:${p.col}  ${bold(p.path)}  ${p.message}${p.hint ? dim(` (${p.hint})`) : ""}`;
}
