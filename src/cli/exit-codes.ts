import { type ErrorCode, isTokenpakError, TokenpakError } from "../errors.js";

/**
 * The one table of process exit codes: what each means and which error codes
 * end in it. `--help` prints it and a test checks the docs' copy against it.
 */
export const EXIT_CODE_TABLE = [
  { code: 0, brief: "success", meaning: "success", errors: [] },
  {
    code: 1,
    brief: "invalid input (the config, or a value given)",
    meaning:
      "invalid input: the config (or a file it needs) is missing or invalid, or an argument is; a malformed CSV; an admin key the provider refused",
    errors: [
      "config_not_found",
      "config_invalid",
      "invalid_argument",
      "model_unpriced",
      "request_too_large",
      "invalid_request",
      "unknown_model",
      "unauthorized",
      "not_found",
      "body_too_large",
      "unsafe_bind",
      "csv_invalid",
      "provider_rejected",
      "reload_refused",
    ],
  },
  {
    code: 2,
    brief: "usage error (an unknown option, an invalid choice)",
    meaning: "usage error: unknown command or option, missing argument",
    errors: ["usage"],
  },
  {
    code: 3,
    brief: "I/O error",
    meaning:
      "I/O error: a file could not be read or written (full disk, read-only or inaccessible data directory)",
    errors: ["io_error", "store_unavailable"],
  },
  {
    code: 4,
    brief: "locked by another process",
    meaning:
      "the ledger (or the price table) is locked by another process (`ledger_locked`, `pricing_locked`), another `reconcile-spend` runs, or the proxy's control socket does not answer",
    errors: ["ledger_locked", "pricing_locked", "reconcile_running", "daemon_unavailable"],
  },
  {
    code: 5,
    brief: "the ledger's journal is corrupt",
    meaning:
      "the ledger's journal is corrupt (`ledger_corrupt`): see `tokenpak ledger repair`; or a compacted month's rollup does not add up",
    errors: ["ledger_corrupt"],
  },
  {
    code: 6,
    brief: "refused by a budget",
    meaning:
      "refused by a budget, quota or rate limit; `status`: a budget shown refuses new requests (blocked or full)",
    errors: ["budget_exceeded", "quota_exceeded", "rate_limited"],
  },
  {
    code: 7,
    brief: "a provider failed",
    meaning:
      "a provider failed: unreachable, too slow, an unusable answer, or (`reconcile-spend`) its admin API failed",
    errors: ["upstream_unreachable", "upstream_timeout", "upstream_invalid_response", "provider_error"],
  },
  {
    code: 8,
    brief: "an alert channel failed",
    meaning: "`alerts test`: a channel did not take the test alert",
    errors: ["alert_delivery_failed"],
  },
  {
    code: 9,
    brief: "the price source could not be fetched",
    meaning: "`sync-pricing`: the price source could not be fetched (network, HTTP error, timeout)",
    errors: ["pricing_fetch_failed"],
  },
  {
    code: 10,
    brief: "the source is not a valid price document",
    meaning: "`sync-pricing`: the source is not a valid price document (truncated, wrong format)",
    errors: ["pricing_invalid"],
  },
  {
    code: 11,
    brief: "a safety rule refused the new prices",
    meaning:
      "`sync-pricing`: a safety rule refused the new prices (a $0 price, a >10× jump, a configured model dropped)",
    errors: ["pricing_refused"],
  },
  {
    code: 12,
    brief: "drift beyond --threshold-pct",
    meaning: "`reconcile-spend`: a day drifted beyond `--threshold-pct` (corrected unless `--dry-run`)",
    errors: [],
  },
  {
    code: 70,
    brief: "internal error",
    meaning: "internal error (a bug: please report it)",
    errors: ["internal_error"],
  },
] as const satisfies readonly {
  code: number;
  /** A few words, for a command's own --help line (`exitCodesLine`). */
  brief: string;
  meaning: string;
  errors: readonly ErrorCode[];
}[];

export type ExitCode = (typeof EXIT_CODE_TABLE)[number]["code"];

// Every error code has its exit code: adding one to ErrorCode without a row here fails to compile.
type Listed = (typeof EXIT_CODE_TABLE)[number]["errors"][number];
const everyCodeListed: [Exclude<ErrorCode, Listed>] extends [never] ? true : never = true;
void everyCodeListed;

export const EXIT_OK = 0;
export const EXIT_USAGE = 2;
/** status: some budget shown is blocked (its spend reached the hard stop): the code of a refusal. */
export const EXIT_BLOCKED = 6;
/** reconcile-spend: the provider billed more than --threshold-pct away from the ledger on some day. */
export const EXIT_DRIFT = 12;
const EXIT_INTERNAL = 70;

const BY_ERROR = new Map<ErrorCode, number>(
  EXIT_CODE_TABLE.flatMap((row) => row.errors.map((e): [ErrorCode, number] => [e, row.code])),
);

/** System errors that are the environment's, not a bug: a read-only or full disk, missing permissions. */
const IO_ERRNOS = new Set([
  "EROFS",
  "EACCES",
  "EPERM",
  "ENOSPC",
  "EDQUOT",
  "EIO",
  "ENOTDIR",
  "EISDIR",
  "ENOENT",
  "EMFILE",
  "ENFILE",
  "EBUSY",
]);

export function exitCodeFor(code: ErrorCode): number {
  return BY_ERROR.get(code) ?? EXIT_INTERNAL;
}

/** A system error of the file system (EROFS, EACCES, ENOSPC, …), by its errno code. */
export function isIoError(error: unknown): error is NodeJS.ErrnoException {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return error instanceof Error && typeof code === "string" && IO_ERRNOS.has(code);
}

/** Anything a command threw, as the error it is reported as: a system I/O error is the environment's, the rest a bug. */
export function asTokenpakError(error: unknown): TokenpakError {
  if (isTokenpakError(error)) return error;
  const text = error instanceof Error ? error.message : String(error);
  return isIoError(error)
    ? new TokenpakError("io_error", `I/O error: ${text}`)
    : new TokenpakError("internal_error", `internal error: ${text}`);
}

/** The table as `--help` shows it. */
export function exitCodesHelp(): string {
  const rows = EXIT_CODE_TABLE.map((r) => `  ${String(r.code).padEnd(3)} ${r.meaning.replaceAll("`", "")}`);
  return `Exit codes:\n${rows.join("\n")}`;
}

/**
 * A command's exit codes for its --help, from the one table: "Exit codes: 0
 * success, 2 bad arguments (…), …". `own` words a code for this command
 * ("another sync holds the lock"); a code missing from the table does not
 * compile.
 */
export function exitCodesLine(
  codes: readonly ExitCode[],
  own: Partial<Record<ExitCode, string>> = {},
): string {
  const rows = codes.map((code) => {
    const row = EXIT_CODE_TABLE.find((r) => r.code === code) as (typeof EXIT_CODE_TABLE)[number];
    return `${code} ${own[code] ?? row.brief}`;
  });
  // Wrapped like the help text around it.
  const lines = [""];
  for (const [i, row] of rows.entries()) {
    const piece = `${i === 0 ? "Exit codes: " : " "}${row}${i === rows.length - 1 ? "." : ","}`;
    const last = lines.length - 1;
    if ((lines[last] as string).length + piece.length > 100 && i > 0) lines.push(piece.trimStart());
    else lines[last] += piece;
  }
  return lines.join("\n");
}

/** The table as the docs show it (Markdown). */
export function exitCodesMarkdown(): string {
  const rows = EXIT_CODE_TABLE.map((r) => `| ${r.code} | ${r.meaning} |`);
  return ["| code | meaning |", "| ---- | ------- |", ...rows].join("\n");
}
