import { INSTANT_PATTERN, parseInstant } from "../budget/moments.js";
import { TokenpakError } from "../errors.js";
import type { Override } from "../ledger/ledger.js";
import { centsToMicros, MAX_AMOUNT_CENTS, microsToCents } from "../money/money.js";
import type { AdminOp } from "./admin.js";

/** The windows an override may name: daily, monthly, or a rolling one (24h, 7d, 90m). */
export const WINDOW_PATTERN = "^(daily|monthly|[1-9][0-9]*(m|h|d))$";

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

/** A timestamp the pattern let through, refused when it names no real moment (2026-02-30T00:00Z). */
export function realInstant(text: string, field: string): number {
  const at = parseInstant(text);
  if (at === undefined)
    throw new TokenpakError("invalid_request", `${field} is not a real date and time: ${text}`, { field });
  return at;
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
      window: { type: "string", pattern: WINDOW_PATTERN },
      add_cents: { type: "number", exclusiveMinimum: 0, maximum: MAX_AMOUNT_CENTS },
      until: { type: "string", pattern: INSTANT_PATTERN },
      reason: { type: "string", minLength: 1, maxLength: 2000 },
    },
  },
  async run(ctx, body, caller) {
    const override = await ctx.ledger.addOverride({
      scope: body.scope,
      window: body.window,
      micros: centsToMicros(body.add_cents),
      until: body.until !== undefined ? realInstant(body.until, "body.until") : undefined,
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
