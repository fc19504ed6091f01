import { describe, expect, it } from "vitest";
import { configFrom } from "../../test/helpers/policy.js";
import {
  createKey,
  keyClashes,
  keyLimits,
  keyViews,
  revokeKey,
  rotateKey,
  type StoredKey,
  storeGrants,
} from "./keys.js";
import { newSecret, sha256Hex } from "./secret.js";

const config = configFrom(`
teams: { blue: {}, red: {} }
projects:
  bot: { team: blue }
  web: {}
keys:
  - { name: ops, key: tp-ops-config-key-1, project: web }
providers: { mock: { type: mock } }
models: { m: { provider: mock, estimated_input_cost_per_1k: 1, estimated_output_cost_per_1k: 1 } }
`);
const T0 = Date.parse("2026-11-20T10:00:00Z");
const change = { now: T0, by: "alice" };

function made(
  spec: Parameters<typeof createKey>[1],
  stored: readonly StoredKey[] = [],
  secret = "tp-secret-1",
) {
  return createKey(stored, spec, config, change, secret);
}

describe("new secrets", () => {
  it("are tp- and 32 base64url characters (192 bits), never the same twice", () => {
    const secrets = new Set(Array.from({ length: 1000 }, newSecret));
    expect(secrets.size).toBe(1000);
    for (const s of secrets) expect(s).toMatch(/^tp-[A-Za-z0-9_-]{32}$/);
  });
});

describe("createKey", () => {
  it("keeps the digest, never the secret, and who made it when", () => {
    const { stored, key } = made({
      name: "ci",
      project: "bot",
      daily_limit_cents: 500,
      requests_per_minute: 60,
    });
    expect(stored).toEqual([key]);
    expect(key).toEqual({
      name: "ci",
      sha256: sha256Hex("tp-secret-1"),
      project: "bot",
      daily_limit_cents: 500,
      rate_limit: { requests_per_minute: 60 },
      created_at: "2026-11-20T10:00:00.000Z",
      created_by: "alice",
    });
    expect(JSON.stringify(stored)).not.toContain("tp-secret-1");
  });

  it.each([
    [{ name: "ops" }, "already used by a key in the config file"],
    [{ name: "-x" }, "must start with a letter or digit"],
    [{ name: "a b" }, "must start with a letter or digit"],
    [{ name: "k", project: "nope" }, "project nope is not defined in the config (defined: bot, web)"],
    [{ name: "k", team: "green" }, "team green is not defined"],
    [{ name: "k", project: "bot", team: "red" }, "team red differs from project bot's team blue"],
    [{ name: "k", expires_at: "2026-11-20T09:00:00Z" }, "is not in the future"],
  ])("refuses %j: %s", (spec, message) => {
    expect(() => made(spec)).toThrow(message);
  });

  it("never gives a name out twice, not even a revoked one's", () => {
    const first = made({ name: "ci" });
    expect(() => made({ name: "ci" }, first.stored)).toThrow("already in the key store");
    const gone = revokeKey(first.stored, "ci", config, change);
    expect(() => made({ name: "ci" }, gone.stored)).toThrow(
      "belonged to a key revoked at 2026-11-20T10:00:00.000Z",
    );
  });
});

describe("revokeKey and rotateKey", () => {
  const { stored } = made({ name: "ci", project: "bot" });

  it("revokes once; again changes nothing; a config key or an unknown one is refused", () => {
    const once = revokeKey(stored, "ci", { ...config }, { now: T0 + 1000, by: "bob" });
    expect(once).toMatchObject({
      changed: true,
      key: { revoked_at: "2026-11-20T10:00:01.000Z", revoked_by: "bob" },
    });
    const twice = revokeKey(once.stored, "ci", config, { now: T0 + 2000, by: "bob" });
    expect(twice.changed).toBe(false);
    expect(twice.stored).toBe(once.stored);
    expect(() => revokeKey(stored, "ops", config, change)).toThrow("defined in the config file");
    expect(() => revokeKey(stored, "nobody", config, change)).toThrow(
      expect.objectContaining({ code: "not_found" }),
    );
    // A revoked key grants nothing: no digest of it is accepted.
    expect(storeGrants(once.stored)).toEqual([]);
    expect(keyLimits({ keys: [] }, once.stored)).toEqual([]);
  });

  it("rotates to a new digest; the old one is granted until the grace ends, then not at all", () => {
    const r = rotateKey(stored, "ci", config, { now: T0, by: "bob", graceMs: 3_600_000 }, "tp-secret-2");
    expect(r.key).toMatchObject({
      sha256: sha256Hex("tp-secret-2"),
      rotated_by: "bob",
      created_at: "2026-11-20T10:00:00.000Z",
      previous: [{ sha256: sha256Hex("tp-secret-1"), valid_until: "2026-11-20T11:00:00.000Z" }],
    });
    expect(storeGrants(r.stored)[0]?.digests).toEqual([
      { sha256: sha256Hex("tp-secret-2") },
      { sha256: sha256Hex("tp-secret-1"), until: Date.parse("2026-11-20T11:00:00.000Z") },
    ]);
    // Rotating again after the grace drops the first secret for good; with no grace, nothing is kept.
    const again = rotateKey(r.stored, "ci", config, { now: T0 + 7_200_000, by: "bob", graceMs: 0 }, "tp-3");
    expect(again.key.previous).toBeUndefined();
    expect(storeGrants(again.stored)[0]?.digests).toEqual([{ sha256: sha256Hex("tp-3") }]);
  });

  it("refuses to rotate a revoked or expired key", () => {
    const gone = revokeKey(stored, "ci", config, change).stored;
    expect(() => rotateKey(gone, "ci", config, { ...change, graceMs: 0 }, "x")).toThrow("was revoked");
    const expiring = made({ name: "tmp", expires_at: "2026-11-20T10:00:05Z" }).stored;
    expect(() => rotateKey(expiring, "tmp", config, { now: T0 + 5000, by: "a", graceMs: 0 }, "x")).toThrow(
      "expired at 2026-11-20T10:00:05.000Z",
    );
  });
});

describe("keys of the config and of the store together", () => {
  it("a name or a secret in both is a clash; revoked names count too", () => {
    // createKey refuses a config key's name; a store edited by hand, or a name added to the config later, may clash.
    const stored = made({ name: "later" }, [], "tp-x").key;
    const clashing: StoredKey[] = [
      { ...stored, name: "ops" },
      {
        ...stored,
        name: "dup",
        sha256: sha256Hex("tp-ops-config-key-1"),
        revoked_at: "2026-11-01T00:00:00Z",
      },
    ];
    expect(keyClashes(config, clashing)).toEqual([
      "keys[0].name: key ops is also in the key store (keys.json); rename the one in the config (a stored key's name is kept even when revoked)",
      "keys[0]: key ops has the same secret as stored key dup",
    ]);
    expect(keyClashes(config, [clashing[1] as StoredKey])).toEqual([
      "keys[0]: key ops has the same secret as stored key dup",
    ]);
    expect(keyClashes(config, [])).toEqual([]);
  });

  it("keys list shows both, with state and last use, never a secret or digest", () => {
    const { stored } = made({
      name: "ci",
      project: "bot",
      monthly_limit_cents: 900,
      expires_at: "2026-11-21T00:00:00Z",
    });
    const views = keyViews(config, stored, T0 + 86_400_000, (name) =>
      name === "ci" ? T0 + 5000 : undefined,
    );
    expect(views).toMatchObject([
      {
        name: "ops",
        source: "config",
        project: "web",
        state: "active",
        last_used_at: null,
        created_at: null,
      },
      {
        name: "ci",
        source: "store",
        project: "bot",
        monthly_limit_cents: 900,
        state: "expired",
        last_used_at: "2026-11-20T10:00:05.000Z",
        created_by: "alice",
      },
    ]);
    expect(JSON.stringify(views)).not.toMatch(/sha256|tp-secret|tp-ops/);
  });
});
