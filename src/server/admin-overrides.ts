import type { Override } from "../ledger/ledger.js";
import { centsToMicros, microsToCents } from "../money/money.js";
import type { AdminOp } from "./admin.js";

/** An override as the admin API and `budget override --list` show it. */
export interface OverrideView {
  id: string;
  scope: string;
  /** "daily", "monthly", a rolling label; null: every dollar limit of the scope. */
  window: string | null;
  add_cents: number;
  from: string;
  until: string;
  reason: string;
  by: string;
}

export function overrideView(o: Override): OverrideView {
  return {
    id: o.id,
    scope: o.scope,
    window: o.window ?? null,
    add_cents: microsToCents(o.micros),
    from: new Date(o.from).toISOString(),
    until: new Date(o.until).toISOString(),
    reason: o.reason,
    by: o.by,
  };
}

export const listOverridesOp: AdminOp<undefined, { overrides: OverrideView[] }> = {
  method: "GET",
  path: "/admin/overrides",
  run: (ctx) => ({ overrides: ctx.ledger.overrides().map(overrideView) }),
};

export interface OverrideBody {
  scope: string;
  window?: string;
  add_cents: number;
  /** ISO 8601; default: when the current window raised ends. */
  until?: string;
  reason: string;
}

export const createOverrideOp: AdminOp<OverrideBody, { override: OverrideView }> = {
  method: "POST",
  path: "/admin/overrides",
  body: {
    type: "object",
    additionalProperties: false,
    required: ["scope", "add_cents", "reason"],
    properties: {
      scope: { type: "string", minLength: 1, maxLength: 1024 },
      window: { type: "string", pattern: "^(daily|monthly|[1-9][0-9]*(m|h|d))$" },
      add_cents: { type: "number", exclusiveMinimum: 0, maximum: 1e12 },
      until: {
        type: "string",
        pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:\\d{2})$",
      },
      reason: { type: "string", minLength: 1, maxLength: 2000 },
    },
  },
  async run(ctx, body, caller) {
    const override = await ctx.ledger.addOverride({
      scope: body.scope,
      window: body.window,
      micros: centsToMicros(body.add_cents),
      until: body.until !== undefined ? Date.parse(body.until) : undefined,
      reason: body.reason,
      by: caller.who,
    });
    return { override: overrideView(override) };
  },
};

export const cancelOverrideOp: AdminOp<{ id: string }, { override: OverrideView }> = {
  method: "DELETE",
  path: "/admin/overrides/:id",
  body: {
    type: "object",
    additionalProperties: false,
    required: ["id"],
    properties: { id: { type: "string", minLength: 1, maxLength: 64 } },
  },
  async run(ctx, { id }, caller) {
    return { override: overrideView(await ctx.ledger.cancelOverride(id, caller.who)) };
  },
};

export const OVERRIDE_OPS = [listOverridesOp, createOverrideOp, cancelOverrideOp] as const;
