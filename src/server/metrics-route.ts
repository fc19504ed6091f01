import { createHash, timingSafeEqual } from "node:crypto";
import type { Context } from "hono";
import { TokenpakError } from "../errors.js";
import type { AppDeps } from "./app.js";
import { errorResponse } from "./errors.js";
import { metricsAccess } from "./metrics.js";

const digest = (text: string) => createHash("sha256").update(text).digest();

/** Whether the request bears `token` (compared as digests, in constant time). */
function bears(header: string | undefined, token: string): boolean {
  const presented = header?.toLowerCase().startsWith("bearer ") ? header.slice(7).trim() : undefined;
  return presented !== undefined && timingSafeEqual(digest(presented), digest(token));
}

/** GET /metrics: the Prometheus exposition, to whom metricsAccess() lets read it (else a 404, or 401 without the token). */
export async function metricsRoute(c: Context, deps: AppDeps, host: string): Promise<Response> {
  const access = metricsAccess(host, deps.config.server);
  if (!access.served || !deps.metrics) return c.notFound();
  if (access.token !== undefined && !bears(c.req.header("authorization"), access.token)) {
    return errorResponse(
      new TokenpakError("unauthorized", "GET /metrics needs Authorization: Bearer <server.admin_token>"),
      "openai",
    );
  }
  return c.body(await deps.metrics.text(), 200, { "content-type": deps.metrics.contentType });
}
