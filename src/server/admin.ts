import { randomUUID } from "node:crypto";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AlertMonitor } from "../alerts/monitor.js";
import type { Config } from "../config/types.generated.js";
import { isTokenpakError, TokenpakError } from "../errors.js";
import type { KeyRing } from "../keys/ring.js";
import type { Ledger } from "../ledger/ledger.js";
import type { PriceSource } from "../pricing/book.js";
import { type AdjustmentBatch, type BatchResult, writeAdjustments } from "../reconcile/apply.js";
import { budgetsOp } from "./admin-budgets.js";
import { compactOp } from "./admin-compact.js";
import { KEY_OPS } from "./admin-keys.js";
import { OVERRIDE_OPS, type OverrideView, overrideView } from "./admin-overrides.js";
import { reloadOp } from "./admin-reload.js";
import { reportOp } from "./admin-report.js";
import { errorResponse, internalError } from "./errors.js";
import type { ReloadResult } from "./reload.js";

/** What admin operations act on: the daemon's own ledger and alerts, or those a command opened itself. */
export interface AdminContext {
  ledger: Ledger;
  alerts: AlertMonitor;
  dataDir: string;
  clock: () => number;
  startedAt: number;
  /** The config in force (a reload changes it). */
  config(): Readonly<Config>;
  /** The client keys of the key store beside the config's; a change reaches requests at once. */
  keys: KeyRing;
  /** The prices requests are decided at now: `status` asks whether the smallest request still fits. */
  prices(): PriceSource;
  /** Re-reads the config: the daemon's alone (a command without one has nothing to reload). */
  reload?: ((by: string) => Promise<ReloadResult>) | undefined;
}

/** Who asked: the OS user of a local command, or the admin token's label on the proxy port. */
export interface Caller {
  who: string;
  via: "socket" | "admin_api" | "direct";
}

/**
 * One admin operation, written once: the router serves it on the control
 * socket and as /admin/* on the proxy port, and a command with no daemon to
 * talk to runs the very same `run` under the ledger lock.
 */
export interface AdminOp<Body, Result> {
  method: "GET" | "POST" | "DELETE";
  /** May name parameters (`/admin/keys/:name`): they join the input under their names. */
  path: `/admin/${string}`;
  /**
   * JSON Schema of the input — a POST's JSON body, a GET's query (a parameter
   * given twice is an array) — with the path's parameters added; input that
   * does not match is refused with 400 naming the field.
   */
  body?: Record<string, unknown>;
  run(ctx: AdminContext, body: Body, caller: Caller): Promise<Result> | Result;
}

export interface DaemonStatus {
  ok: true;
  pid: number;
  data_dir: string;
  started_at: string;
  open_reservations: number;
  /** Budget overrides in force, soonest to end first. */
  overrides: OverrideView[];
}

export const statusOp: AdminOp<undefined, DaemonStatus> = {
  method: "GET",
  path: "/admin/status",
  run: (ctx) => ({
    ok: true,
    pid: process.pid,
    data_dir: ctx.dataDir,
    started_at: new Date(ctx.startedAt).toISOString(),
    open_reservations: ctx.ledger.openReservations,
    overrides: ctx.ledger.overrides().map(overrideView),
  }),
};

const DAY = { type: "string", pattern: "^\\d{4}-\\d{2}-\\d{2}$" };
const MICROS = { type: "integer", minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER };
const NAME = { type: "string", minLength: 1, maxLength: 512 };

export const adjustmentsOp: AdminOp<AdjustmentBatch, BatchResult> = {
  method: "POST",
  path: "/admin/adjustments",
  body: {
    type: "object",
    additionalProperties: false,
    required: ["provider", "source", "adjustments", "drift"],
    properties: {
      provider: NAME,
      source: NAME,
      adjustments: {
        type: "array",
        items: {
          type: "object",
          additionalProperties: false,
          required: ["identity", "cost", "tokens", "at", "reconcile"],
          properties: {
            identity: {
              type: "object",
              additionalProperties: false,
              properties: { key: NAME, user: NAME, project: NAME, team: NAME },
            },
            model: NAME,
            cost: MICROS,
            tokens: MICROS,
            at: { type: "string", pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$" },
            reconcile: {
              type: "object",
              additionalProperties: false,
              required: ["day", "model", "delta", "provider_cost", "ledger_cost"],
              properties: {
                day: DAY,
                model: { type: "string", maxLength: 512 },
                delta: MICROS,
                provider_cost: MICROS,
                ledger_cost: MICROS,
              },
            },
          },
        },
      },
      drift: {
        type: "array",
        items: {
          type: "object",
          additionalProperties: false,
          required: ["day", "message"],
          properties: {
            day: DAY,
            message: { type: "string", minLength: 1, maxLength: 2000 },
            off_by: MICROS,
          },
        },
      },
    },
  },
  run: (ctx, batch) => writeAdjustments(ctx, batch, ctx.clock()),
};

export const ADMIN_OPS: readonly AdminOp<never, unknown>[] = [
  statusOp,
  adjustmentsOp,
  ...KEY_OPS,
  ...OVERRIDE_OPS,
  reloadOp,
  reportOp,
  budgetsOp,
  compactOp,
];

const ajv = new Ajv2020({ allErrors: false, strict: true });
const validators = new WeakMap<object, ValidateFunction>();

/** The field an error is about: for a missing one, that field (body.reason), not the object holding it. */
function fieldOf(e: ErrorObject): string {
  const at = `body${e.instancePath.replace(/\//g, ".")}`;
  return e.keyword === "required" ? `${at}.${String(e.params.missingProperty)}` : at;
}

function describe(e: ErrorObject): string {
  const at = `body${e.instancePath.replace(/\//g, ".")}`;
  if (e.keyword === "additionalProperties")
    return `${at} has an unknown field ${String(e.params.additionalProperty)}`;
  if (e.keyword === "required") return `${at} needs ${String(e.params.missingProperty)}`;
  if (e.keyword === "enum") return `${at} must be one of ${(e.params.allowedValues as unknown[]).join(", ")}`;
  if (e.keyword === "maximum") return `${at} is too large: at most ${String(e.params.limit)}`;
  return `${at} ${e.message ?? "is invalid"}`;
}

function validatorOf(schema: Record<string, unknown>): ValidateFunction {
  let validate = validators.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    validators.set(schema, validate);
  }
  return validate;
}

/** The parameters a path names: "/admin/keys/:name" → ["name"]. */
export function pathParams(path: string): string[] {
  return [...path.matchAll(/:(\w+)/g)].map((m) => m[1] ?? "");
}

/** Checks an input against the operation's schema and runs it: the one way into an operation. */
export async function runOp<Body, Result>(
  op: AdminOp<Body, Result>,
  ctx: AdminContext,
  body: unknown,
  caller: Caller,
): Promise<Result> {
  if (op.body) {
    const validate = validatorOf(op.body);
    if (!validate(body)) {
      const first = validate.errors?.[0];
      throw new TokenpakError("invalid_request", first ? describe(first) : "invalid body", {
        field: first ? fieldOf(first) : "body",
      });
    }
  }
  return op.run(ctx, body as Body, caller);
}

const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** What a listener tells the router about a call: who made it, and where internal errors are logged. */
export interface AdminEnv {
  caller?: Caller;
  /** Set on the proxy port: an internal error is logged here and answered generically. */
  log?: (message: string) => void;
}

/** The name a local command sends (its OS user): file permissions on the socket vouch for the rest. */
export const OPERATOR_HEADER = "x-tokenpak-operator";

function socketCaller(header: string | undefined): Caller {
  const who = header?.trim().slice(0, 128);
  return { who: who && /^[\x20-\x7e]+$/.test(who) ? who : "local", via: "socket" };
}

/** A GET's query as an input: a parameter given once is a string, given twice an array. */
function queryInput(queries: Record<string, string[]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, values] of Object.entries(queries))
    out[name] = values.length === 1 ? (values[0] ?? "") : values;
  return out;
}

/**
 * The admin API: one router, each operation mounted at its path, JSON in and
 * out, errors as the proxy's. Both listeners serve it: the control socket as
 * it is, the proxy port behind the admin token (admin-http.ts), which says
 * who the caller is in the env.
 */
export function createAdminRouter(ctx: AdminContext): Hono<{ Bindings: AdminEnv }> {
  const app = new Hono<{ Bindings: AdminEnv }>();
  app.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () =>
        errorResponse(new TokenpakError("body_too_large", "admin request body too large"), "openai"),
    }),
  );
  for (const op of ADMIN_OPS) {
    if (op.body) validatorOf(op.body); // compiled now, not on the first call while requests wait
    app.on(op.method, op.path, async (c) => {
      let input: unknown;
      if (op.method === "POST") {
        // An empty body is an empty object: `curl -X POST …/admin/reload` needs none.
        const text = await c.req.text();
        try {
          input = text.trim() === "" ? {} : JSON.parse(text);
        } catch {
          throw new TokenpakError("invalid_request", "the body is not JSON");
        }
      } else if (op.method === "GET" && op.body) {
        input = queryInput(c.req.queries());
      }
      const params = pathParams(op.path);
      if (params.length > 0) {
        const named = Object.fromEntries(params.map((p) => [p, c.req.param(p)]));
        input =
          input !== null && typeof input === "object" && !Array.isArray(input)
            ? { ...input, ...named }
            : (input ?? named);
      }
      const caller = c.env?.caller ?? socketCaller(c.req.header(OPERATOR_HEADER));
      return c.json(await runOp(op, ctx, input, caller));
    });
  }
  app.notFound((c) =>
    errorResponse(new TokenpakError("not_found", `no admin route ${c.req.method} ${c.req.path}`), "openai"),
  );
  app.onError((error, c) => {
    if (isTokenpakError(error)) return errorResponse(error, "openai");
    const log = c.env?.log;
    // On the proxy port the caller may be anyone with the token: the details stay in the log.
    if (log) return internalError(error, randomUUID(), "openai", log);
    return errorResponse(new TokenpakError("internal_error", `internal error: ${error.message}`), "openai");
  });
  return app;
}
