import { timingSafeEqual } from "node:crypto";
import type { Identity } from "../budget/policy.js";
import type { Config } from "../config/types.generated.js";
import { TokenpakError } from "../errors.js";
import { configGrants, type KeyGrant } from "../keys/keys.js";
import { sha256Hex } from "../keys/secret.js";
import type { KeyUsage } from "../keys/usage.js";
import { type Json, obj, str } from "../providers/json.js";
import type { WireFormat } from "../providers/wire.js";

interface KeyEntry {
  digest: Buffer;
  name: string;
  project?: string | undefined;
  team?: string | undefined;
  user?: string | undefined;
  /** A rotated-out secret: accepted until this moment (epoch ms). */
  until?: number | undefined;
  /** The key is refused from this moment on (epoch ms). */
  expiresAt?: number | undefined;
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
 * Who a request is for. With keys configured — in the config or the key
 * store — the presented key must match one (compared as SHA-256 digests, in
 * constant time; only digests are kept in memory), not be expired, and, if it
 * is a rotated-out secret, be within its grace period. With none — open mode,
 * as in the recipe — the bearer token is the user id. The end user may also
 * come from the body or x-tokenpak-user.
 */
export class Authenticator {
  private readonly byDigest = new Map<string, KeyEntry>();
  private readonly clock: () => number;
  private readonly usage: KeyUsage | undefined;

  constructor(
    config: Pick<Config, "keys">,
    options: { stored?: readonly KeyGrant[]; clock?: () => number; usage?: KeyUsage } = {},
  ) {
    this.clock = options.clock ?? Date.now;
    this.usage = options.usage;
    for (const grant of [...configGrants(config), ...(options.stored ?? [])]) {
      for (const d of grant.digests) {
        this.byDigest.set(d.sha256, {
          digest: Buffer.from(d.sha256, "hex"),
          name: grant.name,
          project: grant.project,
          team: grant.team,
          user: grant.user,
          until: d.until,
          expiresAt: grant.expiresAt,
        });
      }
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
    const digest = sha256Hex(token);
    const entry = this.byDigest.get(digest);
    if (!entry || !timingSafeEqual(entry.digest, Buffer.from(digest, "hex")))
      throw new TokenpakError("unauthorized", "invalid API key");
    const now = this.clock();
    if (entry.until !== undefined && now >= entry.until)
      throw new TokenpakError("unauthorized", "invalid API key");
    if (entry.expiresAt !== undefined && now >= entry.expiresAt) {
      throw new TokenpakError(
        "unauthorized",
        `API key ${entry.name} expired at ${new Date(entry.expiresAt).toISOString()}; ask for a new one`,
      );
    }
    this.usage?.touch(entry.name, now);
    const user =
      entry.user ??
      (format === "anthropic" ? str(obj(body.metadata).user_id) : str(body.user)) ??
      headers.get("x-tokenpak-user") ??
      undefined;
    return { key: entry.name, project: entry.project, team: entry.team, user, run };
  }
}
