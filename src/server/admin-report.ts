import { DIMENSIONS, type Dimension, type Report, spendReport } from "../ledger/report.js";
import { reportPeriod } from "../ledger/report-period.js";
import type { AdminOp } from "./admin.js";

const DAY = { type: "string", pattern: "^\\d{4}-\\d{2}-\\d{2}$" };
const DIMENSION = { enum: [...DIMENSIONS] };

export interface ReportInput {
  by?: Dimension | Dimension[];
  /** As `tokenpak report --period`: YYYY, YYYY-MM, YYYY-MM-DD, today, yesterday, this-month, last-month. */
  period?: string;
  /** First local day (budget.timezone), inclusive; default the first of this month. */
  since?: string;
  /** Last local day, inclusive; default today. */
  until?: string;
  provider?: string;
}

/**
 * GET /admin/report?by=project&by=model&since=2026-11-01&until=2026-11-30:
 * spend grouped as asked (default by project, this month so far), the report
 * `tokenpak report --format json` prints.
 */
export const reportOp: AdminOp<ReportInput, Report & { since: string; until: string }> = {
  method: "GET",
  path: "/admin/report",
  body: {
    type: "object",
    additionalProperties: false,
    properties: {
      by: { anyOf: [DIMENSION, { type: "array", items: DIMENSION, minItems: 1, maxItems: 4 }] },
      period: { type: "string", minLength: 1, maxLength: 16 },
      since: DAY,
      until: DAY,
      provider: { type: "string", minLength: 1, maxLength: 512 },
    },
  },
  async run(ctx, input) {
    const timeZone = ctx.config().budget.timezone;
    const period = reportPeriod(input, timeZone, ctx.clock());
    const groupBy = input.by === undefined ? ["project" as const] : [input.by].flat();
    const report = await spendReport(ctx.dataDir, {
      from: period.from,
      to: period.to,
      groupBy,
      timeZone,
      provider: input.provider,
    });
    return { since: period.since, until: period.until, ...report };
  },
};
