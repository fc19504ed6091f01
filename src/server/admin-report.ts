import { localDateParts, startOfLocalDate } from "../budget/windows.js";
import { TokenpakError } from "../errors.js";
import { DIMENSIONS, type Dimension, type Report, spendReport } from "../ledger/report.js";
import type { AdminOp } from "./admin.js";

const DAY = { type: "string", pattern: "^\\d{4}-\\d{2}-\\d{2}$" };
const DIMENSION = { enum: [...DIMENSIONS] };

export interface ReportInput {
  by?: Dimension | Dimension[];
  /** First local day (budget.timezone), inclusive; default the first of this month. */
  since?: string;
  /** Last local day, inclusive; default today. */
  until?: string;
}

function day(text: string, timeZone: string, next = 0): number {
  const [y = 0, m = 0, d = 0] = text.split("-").map(Number);
  return startOfLocalDate(y, m, d + next, timeZone);
}

/**
 * GET /admin/report?by=project&by=model&since=2026-11-01&until=2026-11-30:
 * spend grouped as asked, from the journal (default: this month so far, by
 * project). `tokenpak report` (issue #15) builds on the same report.
 */
export const reportOp: AdminOp<ReportInput, Report> = {
  method: "GET",
  path: "/admin/report",
  body: {
    type: "object",
    additionalProperties: false,
    properties: {
      by: { anyOf: [DIMENSION, { type: "array", items: DIMENSION, minItems: 1, maxItems: 4 }] },
      since: DAY,
      until: DAY,
    },
  },
  run(ctx, input) {
    const timeZone = ctx.config().budget.timezone;
    const now = ctx.clock();
    const local = localDateParts(now, timeZone);
    const from =
      input.since !== undefined
        ? day(input.since, timeZone)
        : startOfLocalDate(local.year, local.month, 1, timeZone);
    const to = input.until !== undefined ? day(input.until, timeZone, 1) : now + 1;
    if (to <= from)
      throw new TokenpakError("invalid_request", "until is before since", { field: "body.until" });
    const groupBy = input.by === undefined ? ["project" as const] : [input.by].flat();
    return spendReport(ctx.dataDir, { from, to, groupBy, timeZone });
  },
};
