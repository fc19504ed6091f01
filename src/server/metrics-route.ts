import { createHash, timingSafeEqual } from "node:crypto";
import type { Context } from "hono";
import { TokenpakError } from "../errors.js";
import { errorResponse } from "./errors.js";
import type { ProxyMetrics } from "./metrics.js";

const digest = (text: string) => createHash("sha256").update(text).digest();

/** Whether the request bears `token` (compared as digests, in constant time). */
function bears(header: string | undefined, token: Buffer): boolean {
  const presented = header?.toLowerCase().startsWith("bearer ") ? header.slice(7).trim() : undefined;
  return presented !== undefined && timingSafeEqual(digest(presented), token);
}

/** GET /metrics: the Prometheus exposition; with `token`, only for requests bearing it. */
export function metricsRoute(metrics: ProxyMetrics, token: string | undefined) {
  const expected = token !== undefined ? digest(token) : undefined;
  return async (c: Context) => {
    if (expected && !bears(c.req.header("authorization"), expected)) {
      return errorResponse(
        new TokenpakError("unauthorized", "GET /metrics needs Authorization: Bearer <server.admin_token>"),
        "openai",
      );
    }
    return c.body(await metrics.text(), 200, { "content-type": metrics.contentType });
  };
}
