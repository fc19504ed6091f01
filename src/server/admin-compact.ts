import { type CompactResult, compactJournal } from "../ledger/compact.js";
import type { AdminOp } from "./admin.js";

/** A month, YYYY-MM with 01 to 12: what `ledger compact --before` takes. */
export const MONTH_PATTERN = "^\\d{4}-(0[1-9]|1[0-2])$";

export interface CompactBody {
  before: string;
  apply: boolean;
}

/**
 * `POST /admin/compact`: folds old journal months into rollups. The daemon
 * runs it between requests (the journal is read a chunk at a time); it only
 * ever writes the current month, so nothing it writes is touched.
 */
export const compactOp: AdminOp<CompactBody, CompactResult> = {
  method: "POST",
  path: "/admin/compact",
  body: {
    type: "object",
    additionalProperties: false,
    required: ["before", "apply"],
    properties: {
      before: { type: "string", pattern: MONTH_PATTERN },
      apply: { type: "boolean" },
    },
  },
  run: (ctx, body) => compactJournal(ctx.dataDir, { ...body, now: ctx.clock(), policy: ctx.ledger.policy }),
};
