import { describe, expect, it } from "vitest";
import { policyFrom } from "../../test/helpers/policy.js";

const policy = policyFrom(`
budget:
  daily_limit_cents: 1000
  quota: { requests_per_month: 5000 }
  model_limits: { gpt-4: { monthly_limit_cents: 500 } }
  per_user_limits:
    enabled: true
    default: { daily_limit_cents: 100 }
    user_limits: { alice: { daily_limit_cents: 300 } }
  per_run_limits: { max_cost_cents: 50, max_requests: 20 }
teams:
  platform: { monthly_limit_cents: 9000, rolling_limits: [{ window: 24h, limit_cents: 800 }], model_limits: { gpt-4: { daily_limit_cents: 40 } } }
projects:
  bot: { team: platform, daily_limit_tokens: 100000 }
keys:
  - { name: ci, key: secret-key-1, project: bot, rate_limit: { requests_per_minute: 60 } }
providers: { openai: { type: openai, api_key: x } }
models: { gpt-4: { provider: openai, estimated_input_cost_per_1k: 3, estimated_output_cost_per_1k: 6 } }
`);

describe("policy", () => {
  it("resolves an identity once, and never mistakes one identity for another", () => {
    const ids = (identity: Parameters<typeof policy.scopesFor>[0]) =>
      policy.scopesFor(identity, "gpt-4").map((s) => s.id);
    const again = { key: "ci", user: "alice", project: "bot" };
    expect(policy.scopesFor(again, "gpt-4")).toBe(policy.scopesFor({ ...again }, "gpt-4"));
    // Client-chosen user and run ids that would spell other identities under a separator-joined key.
    expect(ids({ user: "a\nb" })).toContain("user:a\nb");
    expect(ids({ user: "a", run: "b" })).toEqual(["run:b", "user:a", "model:gpt-4", "workspace"]);
    expect(ids({ run: "1:a", user: "b" })).toEqual(["run:1:a", "user:b", "model:gpt-4", "workspace"]);
    expect(ids({ run: "1:a1:b" })).toEqual(["run:1:a1:b", "model:gpt-4", "workspace"]);
    expect(ids({ user: "" })).toContain("user:");
    expect(ids({})).not.toContain("user:");
    expect(ids({ project: "bot", team: null })).not.toContain("team:platform");
    expect(ids({ project: "bot" })).toContain("team:platform");
  });

  it("resolves every scope of a request, most specific first, the project's team included", () => {
    const scopes = policy.scopesFor({ key: "ci", user: "alice", project: "bot", run: "r1" }, "gpt-4");
    expect(scopes.map((s) => s.id)).toEqual([
      "run:r1",
      "key:ci",
      "user:alice",
      "project:bot/model:gpt-4",
      "project:bot",
      "team:platform/model:gpt-4",
      "team:platform",
      "model:gpt-4",
      "workspace",
    ]);
    const limits = Object.fromEntries(
      scopes.map((s) => [s.id, s.limits.map((l) => `${l.kind}:${l.window.kind}:${l.unit}:${l.amount}`)]),
    );
    expect(limits).toMatchObject({
      "run:r1": ["budget:total:cents:50000000", "budget:total:requests:20"],
      "key:ci": ["rate:rolling:requests:60"],
      "user:alice": ["budget:day:cents:300000000"],
      "project:bot": ["budget:day:tokens:100000"],
      "team:platform/model:gpt-4": ["budget:day:cents:40000000"],
      "team:platform": ["budget:month:cents:9000000000", "budget:rolling:cents:800000000"],
      "model:gpt-4": ["budget:month:cents:500000000"],
      workspace: ["budget:day:cents:1000000000", "quota:month:requests:5000"],
    });
  });

  it("users not listed get the default limits; a recorded 'no team' is not looked up again", () => {
    expect(policy.scopesFor({ user: "bob" }, "gpt-4")[0]?.limits.map((l) => l.amount)).toEqual([100_000_000]);
    expect(policy.scopesFor({ project: "bot", team: null }, "gpt-4").some((s) => s.kind === "team")).toBe(
      false,
    );
  });

  it("scopeById gives back the same scope, composite ids included", () => {
    for (const scope of policy.scopesFor(
      { key: "ci", user: "a/model:b", project: "bot", run: "r" },
      "gpt-4",
    )) {
      expect(policy.scopeById(scope.id)).toEqual(scope);
    }
    expect(policy.scopeById("nonsense")).toBeUndefined();
  });

  it("forgetScopes lets cached scopes go once there are more than it may keep; they come back equal", () => {
    const first = policy.scopesFor({ user: "carol" }, "gpt-4");
    policy.forgetScopes(1_000_000);
    expect(policy.scopesFor({ user: "carol" }, "gpt-4")).toBe(first); // within bounds: kept
    policy.forgetScopes(0);
    const again = policy.scopesFor({ user: "carol" }, "gpt-4");
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });

  it("collects the rolling windows the ledger must keep", () => {
    expect(policy.rollingWindows.map((w) => (w.kind === "rolling" ? w.label : w.kind)).sort()).toEqual([
      "1m",
      "24h",
    ]);
  });

  it("budget.enabled: false keeps quotas and rate limits, drops budgets", () => {
    const off = policyFrom(`
budget: { enabled: false, daily_limit_cents: 10, quota: { requests_per_month: 5 } }
keys: [{ name: k, key: secret-key-1, project: p, daily_limit_cents: 5, rate_limit: { requests_per_minute: 1 } }]
projects: { p: { daily_limit_cents: 5 } }
providers: { o: { type: mock } }
models: { m: { provider: o } }
`);
    const kinds = off.scopesFor({ key: "k", project: "p" }, "m").flatMap((s) => s.limits.map((l) => l.kind));
    expect(kinds.sort()).toEqual(["quota", "rate"]);
  });
});
