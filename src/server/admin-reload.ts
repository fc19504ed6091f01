import { TokenpakError } from "../errors.js";
import type { AdminOp } from "./admin.js";
import type { ReloadResult } from "./reload.js";

/** POST /admin/reload: what SIGHUP and `tokenpak reload` do. A refused reload is a 422 `reload_refused` with the problems. */
export const reloadOp: AdminOp<Record<string, never>, ReloadResult> = {
  method: "POST",
  path: "/admin/reload",
  body: { type: "object", additionalProperties: false, properties: {} },
  run(ctx, _body, caller) {
    if (!ctx.reload) {
      throw new TokenpakError(
        "daemon_unavailable",
        `no proxy is running on ${ctx.dataDir}: there is nothing to reload (the next start reads the config)`,
      );
    }
    return ctx.reload(caller.who);
  },
};
