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

/** Prefixes of provider and gateway keys: such a bearer in open mode is a key sent to the wrong place. */
const KEY_PREFIXES = ["sk-", "sk_", "tp-", "xai-", "gsk_", "hf_", "ghp_", "AIza"];
const LONG_HEX = /^[0-9a-f]{40,}$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Bits per character of `text`'s own distribution of characters. */
function entropy(text: string): number {
  const counts = new Map<string, number>();
  for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= (n / text.length) * Math.log2(n / text.length);
  return bits;
}

/**
 * Whether a bearer looks like a secret rather than a user name: a provider
 * key's prefix, or a long random string: over 32 characters at more than 4
 * bits a character (user names and e-mail addresses are far below), or 40 hex
 * digits or more. UUIDs, a common user id, are let through by their shape.
 */
export function looksLikeSecret(token: string): boolean {
  if (KEY_PREFIXES.some((p) => token.startsWith(p))) return true;
  if (token.length <= 32 || UUID.test(token)) return false;
  return LONG_HEX.test(token) || entropy(token) > 4;
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
      if (looksLikeSecret(token)) {
        // Never stored, logged or echoed: it would land in the journal, the alerts and the 402 text.
        throw new TokenpakError(
          "unauthorized",
          "the bearer token looks like a secret key; in open mode (no keys configured) tokenpak takes the bearer as a user name, so send a user name (Authorization: Bearer alice) — the provider's key belongs in tokenpak's config",
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
      (format === "anthropic" ? str(obj(body.metadata).user_id) : str(body.user)) ??
      headers.get("x-tokenpak-user") ??
      undefined;
    return { key: entry.name, project: entry.project, team: entry.team, user, run };
  }
}
