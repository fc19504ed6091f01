import { roomOfSmallest } from "../ledger/room.js";
import type { StatusReport } from "../ledger/status.js";
import type { AdminOp } from "./admin.js";

/** `GET /admin/budgets?scope=PREFIX&all=true`: the query string of `tokenpak status`. */
export interface BudgetsQuery {
  scope?: string;
  all?: "true" | "false";
}

/** Every budget that applies now, with the reservations in flight: what `tokenpak status` shows of a running daemon. */
export const budgetsOp: AdminOp<BudgetsQuery, StatusReport> = {
  method: "GET",
  path: "/admin/budgets",
  body: {
    type: "object",
    additionalProperties: false,
    properties: {
      scope: { type: "string", maxLength: 1024 },
      all: { type: "string", enum: ["true", "false"] },
    },
  },
  run: (ctx, query) =>
    ctx.ledger.budgetStatus(
      { prefix: query.scope, all: query.all === "true" },
      {
        refused: ctx.alerts.refused(),
        room: roomOfSmallest(ctx.config(), ctx.prices(), ctx.ledger.policy.hardStopPct),
      },
    ),
};
