import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AlertMonitor } from "../alerts/monitor.js";
import { isTokenpakError, TokenpakError } from "../errors.js";
import type { Ledger } from "../ledger/ledger.js";
import { type AdjustmentBatch, type BatchResult, writeAdjustments } from "../reconcile/apply.js";
import { budgetsOp } from "./admin-budgets.js";
import { compactOp } from "./admin-compact.js";
import { errorResponse } from "./errors.js";

/** What admin operations act on: the daemon's own ledger and alerts, or those a command opened itself. */
export interface AdminContext {
  ledger: Ledger;
  alerts: AlertMonitor;
  dataDir: string;
  clock: () => number;
  startedAt: number;
}

/**
 * One admin operation, written once: the router serves it (on the control
 * socket; later also as /admin/* on the proxy port), and a command with no
 * daemon to talk to runs the very same `run` under the ledger lock.
 */
export interface AdminOp<Body, Result> {
  method: "GET" | "POST";
  path: `/admin/${string}`;
  /**
   * JSON Schema of the body — for a GET, of its query string as an object of
   * strings; bodies that do not match are refused with 400 naming the field.
   */
  body?: Record<string, unknown>;
  run(ctx: AdminContext, body: Body): Promise<Result> | Result;
}

export interface DaemonStatus {
  ok: true;
  pid: number;
  data_dir: string;
  started_at: string;
  open_reservations: number;
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
          properties: { day: DAY, message: { type: "string", minLength: 1, maxLength: 2000 } },
        },
      },
    },
  },
  run: (ctx, batch) => writeAdjustments(ctx, batch, ctx.clock()),
};

export const ADMIN_OPS: readonly AdminOp<never, unknown>[] = [statusOp, adjustmentsOp, budgetsOp, compactOp];

const ajv = new Ajv2020({ allErrors: false, strict: true });
const validators = new WeakMap<object, ValidateFunction>();

function describe(e: ErrorObject): string {
  const at = `body${e.instancePath.replace(/\//g, ".")}`;
  if (e.keyword === "additionalProperties")
    return `${at} has an unknown field ${String(e.params.additionalProperty)}`;
  if (e.keyword === "required") return `${at} needs ${String(e.params.missingProperty)}`;
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

/** Checks a body against the operation's schema and runs it: the one way into an operation. */
export async function runOp<Body, Result>(
  op: AdminOp<Body, Result>,
  ctx: AdminContext,
  body: unknown,
): Promise<Result> {
  if (op.body) {
    const validate = validatorOf(op.body);
    if (!validate(body)) {
      const first = validate.errors?.[0];
      throw new TokenpakError("invalid_request", first ? describe(first) : "invalid body", {
        field: first ? `body${first.instancePath.replace(/\//g, ".")}` : "body",
      });
    }
  }
  return op.run(ctx, body as Body);
}

const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** The admin API: one router, each operation mounted at its path, JSON in and out, errors as the proxy's. */
export function createAdminRouter(ctx: AdminContext): Hono {
  const app = new Hono();
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
      let body: unknown = op.body ? c.req.query() : undefined;
      if (op.method === "POST") {
        try {
          body = await c.req.json();
        } catch {
          throw new TokenpakError("invalid_request", "the body is not JSON");
        }
      }
      return c.json(await runOp(op, ctx, body));
    });
  }
  app.notFound((c) =>
    errorResponse(new TokenpakError("not_found", `no admin route ${c.req.method} ${c.req.path}`), "openai"),
  );
  app.onError((error) =>
    errorResponse(
      isTokenpakError(error) ? error : new TokenpakError("internal", `internal error: ${error.message}`),
      "openai",
    ),
  );
  return app;
}
