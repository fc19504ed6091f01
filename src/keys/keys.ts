import type { KeyLimits } from "../budget/policy.js";
import type { Config } from "../config/types.generated.js";
import { TokenpakError } from "../errors.js";
import { ownValue } from "../own.js";
import { sha256Hex } from "./secret.js";

/**
 * A client key in the key store (<data-dir>/keys.json). Only the SHA-256 of
 * its secret is kept; the secret itself is shown once, when it is made.
 */
export interface StoredKey {
  name: string;
  sha256: string;
  project?: string;
  team?: string;
  user?: string;
  daily_limit_cents?: number;
  monthly_limit_cents?: number;
  rate_limit?: { requests_per_minute?: number };
  created_at: string;
  created_by: string;
  expires_at?: string;
  rotated_at?: string;
  rotated_by?: string;
  /** Secrets a rotation replaced, each valid until its grace period ends. */
  previous?: { sha256: string; valid_until: string }[];
  /** A revoked key stays in the store: its name keeps its spend, and is not given out again. */
  revoked_at?: string;
  revoked_by?: string;
}

/** What `keys create` and POST /admin/keys ask for. */
export interface KeySpec {
  name: string;
  project?: string;
  team?: string;
  user?: string;
  daily_limit_cents?: number;
  monthly_limit_cents?: number;
  requests_per_minute?: number;
  /** ISO 8601. */
  expires_at?: string;
}

/** What the authenticator needs of a key: who it stands for, and the digests it accepts until when. */
export interface KeyGrant {
  name: string;
  project?: string | undefined;
  team?: string | undefined;
  user?: string | undefined;
  digests: readonly { sha256: string; until?: number }[];
  /** Refused from this moment on (epoch ms). */
  expiresAt?: number;
}

/** `keys list`: never a secret, nor a digest. */
export interface KeyView {
  name: string;
  source: "config" | "store";
  project: string | null;
  team: string | null;
  user: string | null;
  daily_limit_cents: number | null;
  monthly_limit_cents: number | null;
  requests_per_minute: number | null;
  created_at: string | null;
  created_by: string | null;
  expires_at: string | null;
  last_used_at: string | null;
  state: "active" | "expired" | "revoked";
  revoked_at: string | null;
  rotated_at: string | null;
  /** While a rotated-out secret still works: until when. */
  previous_valid_until: string | null;
}

/** Names go into scope ids (`key:<name>`), journal lines and URL paths: plain characters only. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

export interface KeyChange {
  now: number;
  /** Who asked: the OS user, or the admin token's label. */
  by: string;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function invalid(message: string, details: Record<string, unknown> = {}): TokenpakError {
  return new TokenpakError("invalid_argument", message, details);
}

function find(stored: readonly StoredKey[], name: string, config: Readonly<Config>): StoredKey {
  const key = stored.find((k) => k.name === name);
  if (key) return key;
  if ((config.keys ?? []).some((k) => k.name === name)) {
    throw invalid(
      `key ${name} is defined in the config file, not the key store: change it there, then run tokenpak reload`,
      { name },
    );
  }
  throw new TokenpakError("not_found", `no key named ${name} in the key store`, { name });
}

function checkSpec(spec: KeySpec, config: Readonly<Config>, stored: readonly StoredKey[], now: number): void {
  if (!NAME.test(spec.name)) {
    throw invalid(
      `key name ${JSON.stringify(spec.name)} must start with a letter or digit and use only letters, digits and . _ @ - (at most 128)`,
      { field: "name" },
    );
  }
  if ((config.keys ?? []).some((k) => k.name === spec.name)) {
    throw invalid(`key name ${spec.name} is already used by a key in the config file`, { field: "name" });
  }
  const taken = stored.find((k) => k.name === spec.name);
  if (taken) {
    throw invalid(
      taken.revoked_at !== undefined
        ? `key name ${spec.name} belonged to a key revoked at ${taken.revoked_at}: a name is never given out again, so its spend stays its own; choose another`
        : `key name ${spec.name} is already in the key store (created ${taken.created_at}); rotate it with tokenpak keys rotate ${spec.name}`,
      { field: "name" },
    );
  }
  const defined = (what: "project" | "team", name: string, names: string[]) => {
    if (!names.includes(name)) {
      throw invalid(
        `${what} ${name} is not defined in the config${names.length > 0 ? ` (defined: ${names.join(", ")})` : ""}: add it under ${what}s: and run tokenpak reload first`,
        { field: what },
      );
    }
  };
  if (spec.project !== undefined) defined("project", spec.project, Object.keys(config.projects ?? {}));
  if (spec.team !== undefined) {
    defined("team", spec.team, Object.keys(config.teams ?? {}));
    const projectTeam =
      spec.project !== undefined ? ownValue(config.projects, spec.project)?.team : undefined;
    if (projectTeam !== undefined && projectTeam !== spec.team) {
      throw invalid(`team ${spec.team} differs from project ${spec.project}'s team ${projectTeam}`, {
        field: "team",
      });
    }
  }
  if (spec.expires_at !== undefined && Date.parse(spec.expires_at) <= now) {
    throw invalid(`the expiry ${spec.expires_at} is not in the future`, { field: "expires_at" });
  }
}

/** A new key in the store, with the digest of `secret` (made by the caller, shown once by the caller). */
export function createKey(
  stored: readonly StoredKey[],
  spec: KeySpec,
  config: Readonly<Config>,
  change: KeyChange,
  secret: string,
): { stored: readonly StoredKey[]; key: StoredKey } {
  checkSpec(spec, config, stored, change.now);
  const key: StoredKey = {
    name: spec.name,
    sha256: sha256Hex(secret),
    ...(spec.project !== undefined ? { project: spec.project } : {}),
    ...(spec.team !== undefined ? { team: spec.team } : {}),
    ...(spec.user !== undefined ? { user: spec.user } : {}),
    ...(spec.daily_limit_cents !== undefined ? { daily_limit_cents: spec.daily_limit_cents } : {}),
    ...(spec.monthly_limit_cents !== undefined ? { monthly_limit_cents: spec.monthly_limit_cents } : {}),
    ...(spec.requests_per_minute !== undefined
      ? { rate_limit: { requests_per_minute: spec.requests_per_minute } }
      : {}),
    created_at: iso(change.now),
    created_by: change.by,
    ...(spec.expires_at !== undefined ? { expires_at: iso(Date.parse(spec.expires_at)) } : {}),
  };
  return { stored: [...stored, key], key };
}

/** Revokes a key at once. Revoking a revoked key changes nothing (a repeated call is safe). */
export function revokeKey(
  stored: readonly StoredKey[],
  name: string,
  config: Readonly<Config>,
  change: KeyChange,
): { stored: readonly StoredKey[]; key: StoredKey; changed: boolean } {
  const key = find(stored, name, config);
  if (key.revoked_at !== undefined) return { stored, key, changed: false };
  const { previous: _gone, ...rest } = key;
  const revoked: StoredKey = { ...rest, revoked_at: iso(change.now), revoked_by: change.by };
  return { stored: stored.map((k) => (k === key ? revoked : k)), key: revoked, changed: true };
}

/**
 * A new secret for the same name, limits and history; the old secret keeps
 * working for `graceMs` (0: not at all), so clients can be moved over.
 */
export function rotateKey(
  stored: readonly StoredKey[],
  name: string,
  config: Readonly<Config>,
  change: KeyChange & { graceMs: number },
  secret: string,
): { stored: readonly StoredKey[]; key: StoredKey } {
  const key = find(stored, name, config);
  if (key.revoked_at !== undefined) {
    throw invalid(`key ${name} was revoked at ${key.revoked_at}; create a new key instead`, { name });
  }
  if (key.expires_at !== undefined && Date.parse(key.expires_at) <= change.now) {
    throw invalid(`key ${name} expired at ${key.expires_at}; create a new key instead`, { name });
  }
  const still = (key.previous ?? []).filter((p) => Date.parse(p.valid_until) > change.now);
  const previous =
    change.graceMs > 0
      ? [...still, { sha256: key.sha256, valid_until: iso(change.now + change.graceMs) }]
      : still;
  const rotated: StoredKey = {
    ...key,
    sha256: sha256Hex(secret),
    rotated_at: iso(change.now),
    rotated_by: change.by,
    ...(previous.length > 0 ? { previous } : {}),
  };
  if (previous.length === 0) delete rotated.previous;
  return { stored: stored.map((k) => (k === key ? rotated : k)), key: rotated };
}

const revoked = (k: StoredKey) => k.revoked_at !== undefined;

type Who = Pick<StoredKey, "name" | "project" | "team" | "user">;
const who = (k: Who) => ({ name: k.name, project: k.project, team: k.team, user: k.user });

/** The store's keys a request may present: not revoked (expiry and grace are the authenticator's, per request). */
export function storeGrants(stored: readonly StoredKey[]): KeyGrant[] {
  return stored
    .filter((k) => !revoked(k))
    .map((k) => ({
      ...who(k),
      digests: [
        { sha256: k.sha256 },
        ...(k.previous ?? []).map((p) => ({ sha256: p.sha256, until: Date.parse(p.valid_until) })),
      ],
      ...(k.expires_at !== undefined ? { expiresAt: Date.parse(k.expires_at) } : {}),
    }));
}

/** The config's keys as grants: no expiry, one digest each. */
export function configGrants(config: Pick<Config, "keys">): KeyGrant[] {
  return (config.keys ?? []).map((k) => ({
    ...who(k),
    digests: [{ sha256: k.key !== undefined ? sha256Hex(k.key) : (k.key_sha256 ?? "").toLowerCase() }],
  }));
}

/** Every key's own limits, the config's and the store's (revoked keys have none left to enforce). */
export function keyLimits(config: Pick<Config, "keys">, stored: readonly StoredKey[]): KeyLimits[] {
  return [
    ...(config.keys ?? []),
    ...stored
      .filter((k) => !revoked(k))
      .map((k) => ({
        name: k.name,
        daily_limit_cents: k.daily_limit_cents,
        monthly_limit_cents: k.monthly_limit_cents,
        rate_limit: k.rate_limit,
      })),
  ];
}

/**
 * Why the config's keys and the store's cannot be used together: the same
 * name in both (revoked ones included: their name holds their spend), or the
 * same secret. Empty when they can.
 */
export function keyClashes(config: Pick<Config, "keys">, stored: readonly StoredKey[]): string[] {
  const byName = new Map(stored.map((k) => [k.name, k]));
  const byDigest = new Map(
    stored.flatMap((k) => [k.sha256, ...(k.previous ?? []).map((p) => p.sha256)].map((d) => [d, k])),
  );
  const out: string[] = [];
  for (const [i, grant] of configGrants(config).entries()) {
    if (byName.has(grant.name)) {
      out.push(
        `keys[${i}].name: key ${grant.name} is also in the key store (keys.json); rename the one in the config (a stored key's name is kept even when revoked)`,
      );
    }
    const same = byDigest.get(grant.digests[0]?.sha256 ?? "");
    if (same) out.push(`keys[${i}]: key ${grant.name} has the same secret as stored key ${same.name}`);
  }
  return out;
}

/** Throws `config_invalid` listing the clashes between the config's keys and the store's, if any. */
export function assertNoClashes(config: Pick<Config, "keys">, stored: readonly StoredKey[]): void {
  const clashes = keyClashes(config, stored);
  if (clashes.length === 0) return;
  throw new TokenpakError(
    "config_invalid",
    `the config's keys and the key store clash: ${clashes.join("; ")}`,
    {
      problems: clashes,
    },
  );
}

function state(k: StoredKey, now: number): KeyView["state"] {
  if (k.revoked_at !== undefined) return "revoked";
  if (k.expires_at !== undefined && Date.parse(k.expires_at) <= now) return "expired";
  return "active";
}

/** What every key shows, wherever it is kept. */
function baseView(k: Who & KeyLimits, source: KeyView["source"], lastUsed: string | null) {
  return {
    name: k.name,
    source,
    project: k.project ?? null,
    team: k.team ?? null,
    user: k.user ?? null,
    daily_limit_cents: k.daily_limit_cents ?? null,
    monthly_limit_cents: k.monthly_limit_cents ?? null,
    requests_per_minute: k.rate_limit?.requests_per_minute ?? null,
    last_used_at: lastUsed,
  };
}

/** Every key, the config's first, as `keys list` shows them. */
export function keyViews(
  config: Pick<Config, "keys">,
  stored: readonly StoredKey[],
  now: number,
  lastUsed: (name: string) => number | undefined,
): KeyView[] {
  const used = (name: string) => {
    const at = lastUsed(name);
    return at !== undefined ? iso(at) : null;
  };
  const fromConfig = (config.keys ?? []).map(
    (k): KeyView => ({
      ...baseView(k, "config", used(k.name)),
      created_at: null,
      created_by: null,
      expires_at: null,
      state: "active",
      revoked_at: null,
      rotated_at: null,
      previous_valid_until: null,
    }),
  );
  const fromStore = stored.map((k): KeyView => {
    const grace = (k.previous ?? []).map((p) => p.valid_until).filter((t) => Date.parse(t) > now);
    return {
      ...baseView(k, "store", used(k.name)),
      created_at: k.created_at,
      created_by: k.created_by,
      expires_at: k.expires_at ?? null,
      state: state(k, now),
      revoked_at: k.revoked_at ?? null,
      rotated_at: k.rotated_at ?? null,
      previous_valid_until: grace.length > 0 ? (grace.sort().at(-1) ?? null) : null,
    };
  });
  return [...fromConfig, ...fromStore];
}
