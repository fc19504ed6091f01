import { type ErrorCode, isTokenpakError, TokenpakError } from "../errors.js";
import type { WireFormat } from "../providers/wire.js";

/** The one place error codes become HTTP statuses. */
const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  unknown_model: 400,
  model_unpriced: 400,
  invalid_argument: 400,
  usage: 400,
  csv_invalid: 400,
  unauthorized: 401,
  budget_exceeded: 402,
  not_found: 404,
  body_too_large: 413,
  request_too_large: 413,
  reconcile_running: 409,
  quota_exceeded: 429,
  rate_limited: 429,
  upstream_unreachable: 502,
  provider_rejected: 502,
  provider_error: 502,
  daemon_unavailable: 503,
  reload_refused: 422,
  upstream_timeout: 504,
  upstream_invalid_response: 502,
  store_unavailable: 503,
  config_not_found: 500,
  config_invalid: 500,
  io_error: 500,
  ledger_locked: 500,
  ledger_corrupt: 500,
  unsafe_bind: 500,
  alert_delivery_failed: 500,
  pricing_fetch_failed: 502,
  pricing_invalid: 502,
  pricing_refused: 409,
  pricing_locked: 409,
  internal_error: 500,
};

/** The error `type` both SDKs use for a status. */
function errorType(status: number): string {
  if (status === 400 || status === 413) return "invalid_request_error";
  if (status === 401) return "authentication_error";
  if (status === 402) return "budget_exceeded";
  if (status === 404) return "not_found_error";
  if (status === 429) return "rate_limit_error";
  if (status === 504) return "timeout_error";
  return "api_error";
}

export function httpStatus(code: ErrorCode): number {
  return HTTP_STATUS[code];
}

/** A refusal in the route's own wire format, with the error's details as fields beside `code` and `message`. */
export function errorResponse(
  error: TokenpakError,
  format: WireFormat,
  headers: Record<string, string> = {},
): Response {
  const status = HTTP_STATUS[error.code];
  const { retryAfterSeconds, ...details } = error.details as { retryAfterSeconds?: number } & Record<
    string,
    unknown
  >;
  const inner = { type: errorType(status), code: error.code, message: error.message, ...details };
  const body =
    format === "anthropic" ? { type: "error", error: inner } : { error: { param: null, ...inner } };
  const out: Record<string, string> = { "content-type": "application/json", ...headers };
  if (details.in_flight === true) {
    // Held by requests in flight, not spent: the SDKs retry on this header, after Retry-After.
    out["x-should-retry"] = "true";
  } else if (status === 400 || status === 401 || status === 402 || status === 404 || status === 413) {
    // Retrying cannot help until a budget resets or the input changes.
    out["x-should-retry"] = "false";
  }
  if (retryAfterSeconds !== undefined) out["retry-after"] = String(retryAfterSeconds);
  return new Response(JSON.stringify(body), { status, headers: out });
}

/**
 * A failure that is ours, not the client's: the stack goes to the operator's
 * log, the client gets a generic error with the request id to quote — never
 * the internal message, which may say more than it should.
 */
export function internalError(
  error: unknown,
  requestId: string,
  format: WireFormat,
  log: (message: string) => void,
): Response {
  log(
    `internal error in request ${requestId}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
  const refusal = new TokenpakError(
    "internal_error",
    `internal error (request id ${requestId}); the details are in tokenpak's log`,
    { request_id: requestId },
  );
  return errorResponse(refusal, format, { "x-tokenpak-request-id": requestId });
}

/**
 * Any failure of a client's request, answered: a refusal meant for the client
 * (a bad field, a budget, the provider's failure) as itself; anything of ours
 * — not a TokenpakError, or one whose code maps to 500 (`internal`, a ledger
 * or disk fault) — through internalError, so its message stays in the log.
 */
export function failureResponse(
  error: unknown,
  requestId: string,
  format: WireFormat,
  log: (message: string) => void,
): Response {
  if (isTokenpakError(error) && HTTP_STATUS[error.code] !== 500) {
    return errorResponse(error, format, { "x-tokenpak-request-id": requestId });
  }
  return internalError(error, requestId, format, log);
}
