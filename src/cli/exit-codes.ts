import type { ErrorCode } from "../errors.js";

/** The one place error codes become process exit codes (documented in the README). */
export const EXIT_OK = 0;
export const EXIT_USAGE = 2;
/** reconcile-spend: the provider billed more than --threshold-pct away from the ledger on some day. */
export const EXIT_DRIFT = 12;

const EXIT_CODES: Record<ErrorCode, number> = {
  config_not_found: 1,
  config_invalid: 1,
  invalid_argument: 1,
  usage: EXIT_USAGE,
  io_error: 3,
  ledger_locked: 4,
  ledger_corrupt: 5,
  model_unpriced: 1,
  budget_exceeded: 6,
  quota_exceeded: 6,
  rate_limited: 6,
  request_too_large: 1,
  invalid_request: 1,
  unknown_model: 1,
  unauthorized: 1,
  not_found: 1,
  body_too_large: 1,
  upstream_unreachable: 7,
  upstream_timeout: 7,
  upstream_invalid_response: 7,
  unsafe_bind: 1,
  alert_delivery_failed: 8,
  pricing_fetch_failed: 9,
  pricing_invalid: 10,
  pricing_refused: 11,
  pricing_locked: 4,
  // The provider refused the admin key: someone must fix the config. Its other failures may pass.
  provider_rejected: 1,
  provider_error: 7,
  csv_invalid: 1,
  reconcile_running: 4,
  daemon_unavailable: 4,
  internal: 70,
};

export function exitCodeFor(code: ErrorCode): number {
  return EXIT_CODES[code];
}
