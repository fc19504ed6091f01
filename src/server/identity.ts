import { hash, timingSafeEqual } from "node:crypto";
import type { Identity } from "../budget/policy.js";
import type { Config } from "../config/types.generated.js";
import { TokenpakError } from "../errors.js";
import { type Json, obj, str } from "../providers/json.js";
import type { WireFormat } from "../providers/wire.js";

interface KeyEntry {
  digest: Buffer;
  name: string;
  project: string;
  team?: string | undefined;
  user?: string | undefined;
}

/** Hex SHA-256 by the one-shot API: about half the cost of createHash().update().digest() per request. */
function sha256(text: string): string {
  return hash("sha256", text, "hex");
}

function presentedToken(headers: Headers): string | undefined {
  const auth = headers.get("authorization");
  if (auth?.toLowerCase().startsWith("bearer ")) return auth.slice(7).trim() || undefined;
  return headers.get("x-api-key")?.trim() || undefined;
}

/**
 * Who a request is for. With `keys` configured the presented key must match
 * one (compared as SHA-256 digests, in constant time; only digests are kept in
 * memory). With none — open mode, as in the recipe — the bearer token is the
 * user id. The end user may also come from the body or x-tokenpak-user.
 */
export class Authenticator {
  private readonly byDigest = new Map<string, KeyEntry>();

  constructor(config: Pick<Config, "keys">) {
    for (const k of config.keys ?? []) {
      const hex = k.key !== undefined ? sha256(k.key) : (k.key_sha256 ?? "").toLowerCase();
      this.byDigest.set(hex, {
        digest: Buffer.from(hex, "hex"),
        name: k.name,
        project: k.project,
        team: k.team,
        user: k.user,
      });
    }
  }

  get openMode(): boolean {
    return this.byDigest.size === 0;
  }

  identify(headers: Headers, body: Json, format: WireFormat): Identity {
    const token = presentedToken(headers);
    const run = headers.get("x-tokenpak-run-id") ?? undefined;
    if (this.openMode) {
      if (!token) {
        throw new TokenpakError(
          "unauthorized",
          "missing API key: send Authorization: Bearer <user id> (open mode: the token names the user)",
        );
      }
      return { user: token, run };
    }
    if (!token)
      throw new TokenpakError(
        "unauthorized",
        "missing API key: send Authorization: Bearer <key> or x-api-key",
      );
    const digest = sha256(token);
    const entry = this.byDigest.get(digest);
    if (!entry || !timingSafeEqual(entry.digest, Buffer.from(digest, "hex")))
      throw new TokenpakError("unauthorized", "invalid API key");
    const user =
      entry.user ??
      (format === "openai" ? str(body.user) : str(obj(body.metadata).user_id)) ??
      headers.get("x-tokenpak-user") ??
      undefined;
    return { key: entry.name, project: entry.project, team: entry.team, user, run };
  }
}
