import { createHash, timingSafeEqual } from "node:crypto";
import type { Config } from "../config/types.generated.js";
import { TokenpakError } from "../errors.js";
import type { AdminEnv } from "./admin.js";
import { errorResponse } from "./errors.js";

/** The admin router as the proxy port mounts it. */
export interface AdminRouter {
  fetch(request: Request, env: AdminEnv): Response | Promise<Response>;
}

const digest = (text: string) => createHash("sha256").update(text).digest();

/** Equal in time that does not depend on where they differ (nor on their lengths: both are hashed first). */
export function sameSecret(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

function bearer(request: Request): string | undefined {
  const auth = request.headers.get("authorization");
  return auth?.toLowerCase().startsWith("bearer ") ? auth.slice(7).trim() : undefined;
}

/**
 * /admin/* on the proxy port: the admin router behind `server.admin_token`
 * (read per request, so a reload can set, change or remove it). Undefined
 * when no token is configured: then the routes do not exist.
 */
export function adminOnPort(
  router: AdminRouter,
  config: Readonly<Config>,
  request: Request,
  log: (message: string) => void,
): Response | Promise<Response> | undefined {
  const token = config.server.admin_token;
  if (token === undefined || token === "") return undefined;
  const presented = bearer(request);
  if (presented === undefined || !sameSecret(presented, token)) {
    const why =
      presented === undefined ? "send Authorization: Bearer <server.admin_token>" : "wrong admin token";
    return errorResponse(new TokenpakError("unauthorized", `admin API: ${why}`), "openai", {
      "www-authenticate": 'Bearer realm="tokenpak-admin"',
    });
  }
  const who = config.server.admin_token_label ?? "admin-api";
  return router.fetch(request, { caller: { who, via: "admin_api" }, log });
}
