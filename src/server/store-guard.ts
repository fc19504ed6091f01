import type { MiddlewareHandler } from "hono";
import type { Ledger } from "../ledger/ledger.js";
import type { WireFormat } from "../providers/wire.js";
import { errorResponse } from "./errors.js";

/** How soon a client may try again: the ledger retries its journal at least this often. */
const RETRY_AFTER_SECONDS = "2";

/**
 * Fails closed while the ledger cannot write its journal (a full disk, an
 * I/O error): a budgeted route answers 503 `store_unavailable` in its own
 * wire format before reading the body, until writes work again.
 */
export function storeGuard(ledger: Ledger, format: WireFormat): MiddlewareHandler {
  return async (_c, next) => {
    const refusal = ledger.unavailable;
    if (refusal === undefined) return next();
    return errorResponse(refusal, format, { "retry-after": RETRY_AFTER_SECONDS });
  };
}
