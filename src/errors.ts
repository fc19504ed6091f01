/**
 * The one error class. `code` is stable: scripts and clients match on it, the
 * CLI maps it to an exit code (src/cli/exit-codes.ts) and the server to an
 * HTTP status, each in exactly one table.
 */
export type ErrorCode =
  | "config_not_found"
  | "config_invalid"
  | "invalid_argument"
  | "usage"
  | "io_error"
  | "model_unpriced"
  | "budget_exceeded"
  | "quota_exceeded"
  | "rate_limited"
  | "request_too_large"
  | "ledger_locked"
  | "ledger_corrupt"
  /** The ledger cannot write its journal (full disk, I/O error): nothing is admitted until it can. */
  | "store_unavailable"
  | "invalid_request"
  | "unknown_model"
  | "unauthorized"
  | "not_found"
  | "body_too_large"
  | "upstream_unreachable"
  | "upstream_timeout"
  | "upstream_invalid_response"
  | "unsafe_bind"
  | "alert_delivery_failed"
  | "pricing_fetch_failed"
  | "pricing_invalid"
  | "pricing_refused"
  | "pricing_locked"
  | "provider_rejected"
  | "provider_error"
  | "csv_invalid"
  | "reconcile_running"
  | "daemon_unavailable"
  /** A reload found the new config (or key store) unusable: the one in force keeps serving. */
  | "reload_refused"
  | "internal_error";

export class TokenpakError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "TokenpakError";
    this.code = code;
    this.details = details;
  }
}

export function isTokenpakError(value: unknown): value is TokenpakError {
  return value instanceof TokenpakError;
}
