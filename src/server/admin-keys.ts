import { INSTANT_PATTERN } from "../budget/moments.js";
import type { KeySpec, KeyView } from "../keys/keys.js";
import { MAX_AMOUNT_CENTS } from "../money/money.js";
import type { AdminOp } from "./admin.js";
import { realInstant } from "./admin-overrides.js";

const NAME = { type: "string", minLength: 1, maxLength: 128 };
const TEXT = { type: "string", minLength: 1, maxLength: 256 };
const CENTS = { type: "number", exclusiveMinimum: 0, maximum: MAX_AMOUNT_CENTS };
const INSTANT = { type: "string", pattern: INSTANT_PATTERN };
/** The longest grace a rotated key's old secret may have. */
export const MAX_GRACE_SECONDS = 365 * 86_400;

export const listKeysOp: AdminOp<undefined, { keys: KeyView[] }> = {
  method: "GET",
  path: "/admin/keys",
  run: (ctx) => ({ keys: ctx.keys.list() }),
};

export interface CreatedKey {
  key: KeyView;
  /** The key itself: shown this once, kept nowhere (the store has its SHA-256). */
  secret: string;
  /** There were no keys before: the proxy left open mode, every request now needs a key. */
  open_mode_ended: boolean;
}

export const createKeyOp: AdminOp<KeySpec, CreatedKey> = {
  method: "POST",
  path: "/admin/keys",
  body: {
    type: "object",
    additionalProperties: false,
    required: ["name"],
    properties: {
      name: NAME,
      project: TEXT,
      team: TEXT,
      user: TEXT,
      daily_limit_cents: CENTS,
      monthly_limit_cents: CENTS,
      requests_per_minute: { type: "integer", minimum: 1, maximum: 1_000_000_000 },
      expires_at: INSTANT,
    },
  },
  async run(ctx, spec, caller) {
    if (spec.expires_at !== undefined) realInstant(spec.expires_at, "body.expires_at");
    const { key, secret, openModeEnded } = await ctx.keys.create(spec, caller.who);
    return { key, secret, open_mode_ended: openModeEnded };
  },
};

export const revokeKeyOp: AdminOp<{ name: string }, { key: KeyView; revoked: boolean }> = {
  method: "DELETE",
  path: "/admin/keys/:name",
  body: { type: "object", additionalProperties: false, required: ["name"], properties: { name: NAME } },
  async run(ctx, { name }, caller) {
    const { key, changed } = await ctx.keys.revoke(name, caller.who);
    return { key, revoked: changed };
  },
};

export const rotateKeyOp: AdminOp<
  { name: string; grace_seconds?: number },
  { key: KeyView; secret: string }
> = {
  method: "POST",
  path: "/admin/keys/:name/rotate",
  body: {
    type: "object",
    additionalProperties: false,
    required: ["name"],
    properties: { name: NAME, grace_seconds: { type: "integer", minimum: 0, maximum: MAX_GRACE_SECONDS } },
  },
  run: (ctx, { name, grace_seconds }, caller) =>
    ctx.keys.rotate(name, (grace_seconds ?? 3600) * 1000, caller.who),
};

export const KEY_OPS = [listKeysOp, createKeyOp, revokeKeyOp, rotateKeyOp] as const;
