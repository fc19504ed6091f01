import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { alertThresholds, type CheckResult, checkConfig, type Env } from "../src/config/load.js";
import type { Problem } from "../src/config/problem.js";
import type { Config } from "../src/config/types.generated.js";
import { INVALID_DIR, INVALID_FIXTURES } from "./invalid-fixtures.js";

const EXAMPLES = new URL("../examples/", import.meta.url);
const example = (name: string) => readFileSync(new URL(name, EXAMPLES), "utf8");

function check(text: string, env: Env = {}): CheckResult {
  return checkConfig(text, "test.yaml", env);
}

/** The config of a result that must be valid; fails the test with the errors otherwise. */
function valid(text: string, env: Env = {}): Readonly<Config> {
  const result = check(text, env);
  expect(result.errors).toEqual([]);
  expect(result.valid).toBe(true);
  if (!result.config) throw new Error("valid result without a config");
  return result.config;
}

const where = (p: Problem) => ({ path: p.path, line: p.line, col: p.col });

describe("invalid fixtures", () => {
  it("there are at least 15, and every one has an expectation", () => {
    const files = readdirSync(INVALID_DIR)
      .filter((f) => f.endsWith(".yaml"))
      .sort();
    expect(files.length).toBeGreaterThanOrEqual(15);
    expect(INVALID_FIXTURES.map((f) => f.file).sort()).toEqual(files);
  });

  it.each(INVALID_FIXTURES)("$file → $line:$col $path", (fixture) => {
    const text = readFileSync(new URL(fixture.file, INVALID_DIR), "utf8");
    const result = checkConfig(text, fixture.file, {});
    expect(result.valid).toBe(false);
    expect(result.config).toBeUndefined();
    expect(result.file).toBe(fixture.file);
    expect(result.errors).toHaveLength(1);
    const [error] = result.errors;
    if (!error) throw new Error("no error");
    expect(error.severity).toBe("error");
    expect(where(error)).toEqual({ path: fixture.path, line: fixture.line, col: fixture.col });
    expect(error.message).toContain(fixture.message);
    if (fixture.hint !== undefined) expect(error.hint).toContain(fixture.hint);
  });
});

describe("the recipe's config.yaml", () => {
  const recipe = example("config.yaml");

  it("is valid with OPENAI_API_KEY set, with the value interpolated", () => {
    const result = check(recipe, { OPENAI_API_KEY: "sk-real-key" });
    expect(result.valid).toBe(true);
    expect(result.errors).toEqual([]);
    // Its only warning: no client keys (open mode, as the recipe uses it).
    expect(result.warnings.map((w) => w.path)).toEqual(["keys"]);
    const config = result.config;
    expect(config?.providers?.openai?.api_key).toBe("sk-real-key");
    expect(config?.budget).toMatchObject({
      enabled: true,
      daily_limit_cents: 1000,
      monthly_limit_cents: 20000,
      alert_threshold_pct: 80,
      alert_webhook: "https://monitoring.example.com/budget-alert",
      reject_on_exceed: true,
      fallback_model_on_exceed: "gpt-3.5-turbo",
      per_user_limits: {
        enabled: true,
        user_limits: { "user-a": { daily_limit_cents: 300 }, "user-b": { daily_limit_cents: 500 } },
      },
    });
    expect(config?.models?.["gpt-3.5-turbo"]).toEqual({
      provider: "openai",
      estimated_input_cost_per_1k: 0.5,
      estimated_output_cost_per_1k: 1.5,
    });
  });

  it("fails without OPENAI_API_KEY, naming the variable where it is used", () => {
    const result = check(recipe, {});
    expect(result.valid).toBe(false);
    expect(result.config).toBeUndefined();
    expect(result.errors).toHaveLength(1);
    const [error] = result.errors;
    expect(error && where(error)).toEqual({ path: "providers.openai.api_key", line: 28, col: 14 });
    expect(error?.message).toBe("environment variable OPENAI_API_KEY is not set");
    expect(error?.hint).toContain("export OPENAI_API_KEY=");
  });

  it("fails when OPENAI_API_KEY is set but empty", () => {
    const result = check(recipe, { OPENAI_API_KEY: "" });
    expect(result.errors.map((e) => e.message)).toEqual(["environment variable OPENAI_API_KEY is not set"]);
  });
});

describe("the other examples", () => {
  it("demo.yaml is valid with an empty environment", () => {
    const result = check(example("demo.yaml"), {});
    expect(result.errors).toEqual([]);
    expect(result.valid).toBe(true);
    expect(result.warnings.map((w) => w.path)).toEqual(["keys"]);
    expect(result.config?.providers?.mock?.type).toBe("mock");
  });

  it("full.yaml is valid with an empty environment and warns about nothing", () => {
    const result = check(example("full.yaml"), {});
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
    const config = result.config;
    // Its ${VAR:-default}s fell back to their defaults, `port` as a number.
    expect(config?.server.port).toBe(8000);
    expect(config?.keys?.[0]?.key).toBe("tp-demo-support-bot-key");
    expect(config?.providers?.openai?.admin_api_key).toBe("");
  });

  it("full.yaml takes values from the environment when they are set", () => {
    const config = valid(example("full.yaml"), { TOKENPAK_PORT: "9100", SUPPORT_BOT_KEY: "tp-from-env-1" });
    expect(config.server.port).toBe(9100);
    expect(config.keys?.[0]?.key).toBe("tp-from-env-1");
  });
});

describe("one problem, one error", () => {
  it("an amount of money beyond what integer micro-cents hold exactly is refused, not rounded", () => {
    const result = check(
      [
        "budget:",
        "  daily_limit_cents: 10000000000", // $100M: 1e16 micro-cents, past Number.MAX_SAFE_INTEGER
        "  monthly_limit_cents: 1000000000", // $10M: the most a limit may be
        "providers:",
        "  openai: { type: openai, api_key: sk-x }",
        "models:",
        "  m: { provider: openai, estimated_input_cost_per_1k: 1, estimated_output_cost_per_1k: 1 }",
      ].join("\n"),
    );
    expect(result.errors.map((e) => [e.path, e.message])).toEqual([
      ["budget.daily_limit_cents", "must be at most 1000000000"],
    ]);
  });

  it("obs 10: reports every problem in a file at once, schema, environment and semantic, in file order", () => {
    const result = check(
      [
        "budget:",
        "  daily_limit_cents: -1",
        "  monthly_limt_cents: 100",
        "models:",
        "  m:",
        "    provider: nowhere",
        "server:",
        "  port: ${TP_UNSET_PORT}",
      ].join("\n"),
    );
    // The schema errors, the env error and the semantic one (model m's provider) come together.
    expect(result.errors.map(where)).toEqual([
      { path: "budget.daily_limit_cents", line: 2, col: 22 },
      { path: "budget.monthly_limt_cents", line: 3, col: 3 },
      { path: "models.m.provider", line: 6, col: 15 },
      { path: "server.port", line: 8, col: 9 },
    ]);
    expect(result.errors[2]?.message).toBe("provider `nowhere` is not defined");
    expect(result.errors[3]?.message).toBe("environment variable TP_UNSET_PORT is not set");
  });

  it("obs 10: what lies in, or refers to, a part the schema rejects gets no second error", () => {
    const result = check(
      [
        "providers:",
        "  openai: { type: openai, api_key: sk-x, timeout_ms: soon }",
        "models:",
        "  m: { provider: openai, estimated_input_cost_per_1k: cheap }",
        "budget:",
        "  fallback_model_on_exceed: m",
        "keys:",
        "  - { name: k, key: tp-secret-123456, project: nowhere }",
        "  - { name: k2, key: tp-secret-654321, project: nowhere, daily_limit_cents: -5 }",
      ].join("\n"),
    );
    // Model m is set aside with its bad price, so the fallback naming it is not flagged as undefined.
    // A bad item sets its whole list aside (dropping one would shift the others' lines): the keys'
    // undefined project waits until keys[1] is fixed.
    expect(result.errors.map((e) => e.path)).toEqual([
      "providers.openai.timeout_ms",
      "models.m.estimated_input_cost_per_1k",
      "keys[1].daily_limit_cents",
    ]);
  });

  it("a single bad webhook is one error about its form", () => {
    const result = check("budget:\n  alert_webhook: ftp://files.example.com/x\n");
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0] && where(result.errors[0])).toEqual({
      path: "budget.alert_webhook",
      line: 2,
      col: 18,
    });
    expect(result.errors[0]?.message).toContain("is not in the expected form");
  });

  it("a webhook of the wrong type is one error about the choice", () => {
    const result = check("budget:\n  alert_webhook: 5\n");
    expect(result.errors.map((e) => e.message)).toEqual(["number 5 is not allowed here"]);
  });

  it("a 0 where a positive value is needed: a limit's key left out is no limit, another's is its default", () => {
    const model = (line: string) =>
      check(
        `providers:\n  openai: { type: openai, api_key: x }\nmodels:\n  m:\n    provider: openai\n    ${line}\n`,
      ).errors;
    expect(model("context_window: 0")).toEqual([
      expect.objectContaining({
        path: "models.m.context_window",
        message: "must be greater than 0",
        hint: "remove the key to use the default (1,048,576)",
      }),
    ]);
    expect(model("max_output_tokens: 0")[0]?.hint).toBe("remove the key to use the default");
    expect(check("budget:\n  daily_limit_cents: 0\n").errors[0]?.hint).toContain(
      "remove the key to have no limit",
    );
    expect(check("budget:\n  per_request: { max_output_tokens: 0 }\n").errors[0]?.hint).toContain(
      "remove the key to have no limit",
    );
  });

  it("an unknown_model price table with a bad price is one error at that price", () => {
    const result = check(
      "pricing:\n  unknown_model:\n    input_cost_per_1k: 1\n    output_cost_per_1k: -1\n",
    );
    expect(result.errors.map(where)).toEqual([
      { path: "pricing.unknown_model.output_cost_per_1k", line: 4, col: 25 },
    ]);
    // never $0: the price of last resort must be a price
    expect(result.errors[0]?.message).toBe("must be greater than 0");
    expect(
      check("pricing:\n  unknown_model:\n    input_cost_per_1k: 0\n    output_cost_per_1k: 1\n").errors,
    ).toEqual([
      expect.objectContaining({
        path: "pricing.unknown_model.input_cost_per_1k",
        message: "must be greater than 0",
        hint: expect.stringMatching(
          /^a price must be above 0: a model priced at \$0 would pass every budget/,
        ),
      }),
    ]);
    expect(result.errors[0]?.hint).not.toMatch(/limit/);
  });

  it("a timeout of 0 is refused with the default it takes when removed, not 'no limit'", () => {
    const result = check(
      "providers:\n  openai:\n    type: openai\n    api_key: sk-x\n    reconcile: { timeout_ms: 0 }\n",
    );
    expect(result.errors).toEqual([
      expect.objectContaining({
        path: "providers.openai.reconcile.timeout_ms",
        message: "must be greater than 0",
        hint: "remove the key to use the default (30000)",
      }),
    ]);
    // a limit has no default: removing it is having none
    expect(check("budget:\n  daily_limit_cents: 0\n").errors[0]?.hint).toMatch(
      /remove the key to have no limit$/,
    );
  });

  it("a price source over plain http to another host is a warning; https, loopback and files are not", () => {
    const result = check(
      "pricing:\n  sources:\n    openai: http://prices.example.com/x.json\n    anthropic: http://127.0.0.1:8080/x.json\n",
    );
    expect(result.errors).toEqual([]);
    expect(result.warnings.filter((w) => w.path.startsWith("pricing"))).toEqual([
      expect.objectContaining({
        path: "pricing.sources.openai",
        line: 3,
        message: "price source prices.example.com is plain http: whoever is on the path can set your prices",
      }),
    ]);
    const fine = check(
      "pricing:\n  sources:\n    openai: ./prices.json\n    anthropic: https://x.test/p.json\n",
    );
    expect(fine.warnings.filter((w) => w.path.startsWith("pricing"))).toEqual([]);
  });

  it("a price source of a scheme sync-pricing cannot read is an error; http(s), file: and paths are not", () => {
    const result = check(
      "pricing:\n  sources:\n    openai: ftp://prices.example.com/x.json\n    anthropic: s3://bucket/p.json\n",
    );
    expect(result.errors.map((e) => [e.path, e.line, e.message])).toEqual([
      [
        "pricing.sources.openai",
        3,
        "price source scheme `ftp:` is not supported: sync-pricing reads http:, https:, file: URLs and local paths",
      ],
      [
        "pricing.sources.anthropic",
        4,
        "price source scheme `s3:` is not supported: sync-pricing reads http:, https:, file: URLs and local paths",
      ],
    ]);
    for (const fine of [
      "file:///srv/p.json",
      "HTTPS://x.test/p.json",
      "prices/p.json",
      "C:\\\\prices.json",
      "~/p.json",
    ])
      expect(check(`pricing:\n  sources:\n    openai: "${fine}"\n`).errors, fine).toEqual([]);
  });

  it("an unknown_model that is neither `refuse` nor a price table is one error", () => {
    const result = check("pricing:\n  unknown_model: refus\n");
    expect(result.errors.map((e) => e.message)).toEqual(['string "refus" is not allowed here']);
  });

  it("a key_sha256 given for a key also given as plain text is a duplicate", () => {
    const secret = "tp-same-secret-123";
    const digest = createHash("sha256").update(secret).digest("hex").toUpperCase();
    const result = check(
      [
        "projects: {app: {}}",
        "keys:",
        `  - {name: hashed, key_sha256: ${digest}, project: app}`,
        `  - {name: plain, key: ${secret}, project: app}`,
      ].join("\n"),
    );
    // Upper-case hex is the same digest.
    expect(result.errors.map((e) => e.message)).toEqual([
      "key `plain` has the same secret as key `hashed` (keys[0])",
    ]);
  });
});

// A config with no warnings; each warning test adds budget keys or models.
const BASE = {
  budget: ["budget:", "  daily_limit_cents: 1000", "  monthly_limit_cents: 20000"],
  models: [
    "providers:",
    "  mock:",
    "    type: mock",
    "models:",
    "  small:",
    "    provider: mock",
    "    estimated_input_cost_per_1k: 0.5",
    "    estimated_output_cost_per_1k: 1.5",
  ],
  keys: [
    "projects:",
    "  app: {}",
    "keys:",
    "  - name: app-key",
    "    key: tp-app-secret",
    "    project: app",
  ],
};
const config = (budget: string[] = [], models: string[] = []) =>
  [...BASE.budget, ...budget, ...BASE.models, ...models, ...BASE.keys].join("\n");

/** Warnings of a config that must still be valid. */
function warnings(text: string): Problem[] {
  const result = check(text);
  expect(result.errors).toEqual([]);
  expect(result.valid).toBe(true);
  expect(result.config).toBeDefined();
  expect(result.warnings.every((w) => w.severity === "warning")).toBe(true);
  return result.warnings;
}

describe("warnings", () => {
  it("the base config has none", () => {
    expect(warnings(config())).toEqual([]);
  });

  it("a fallback model dearer than a model it replaces", () => {
    const found = warnings(
      config(
        ["  fallback_model_on_exceed: big"],
        [
          "  big:",
          "    provider: mock",
          "    estimated_input_cost_per_1k: 3",
          "    estimated_output_cost_per_1k: 6",
        ],
      ),
    );
    expect(found.map(where)).toEqual([{ path: "budget.fallback_model_on_exceed", line: 4, col: 29 }]);
    expect(found[0]?.message).toContain("fallback model `big` costs more than `small`");
    expect(found[0]?.hint).toContain("cheaper");
  });

  it("a tool price for a tool that is not billed per call, and pricing.unknown_tool: allow", () => {
    const found = warnings(
      config(
        [],
        [
          "    tool_call_cents: { web_search: 1, websearch: 1, function: 0, namespace: 1, custom: 1, web_search_preview: 1, shell: 3, mcp: 0 }",
          "pricing:",
          "  unknown_tool: allow",
        ],
      ),
    );
    // The proxy's own lists (src/pricing/tool-kinds.ts): shell (in a hosted container) and mcp are priced.
    expect(found.map((w) => w.path)).toEqual([
      "models.small.tool_call_cents.websearch",
      "models.small.tool_call_cents.function",
      "models.small.tool_call_cents.namespace",
      "models.small.tool_call_cents.custom",
      "models.small.tool_call_cents.web_search_preview",
      "pricing.unknown_tool",
    ]);
    expect(found[0]?.hint).toBe("did you mean `web_search`?");
    expect(found[0]?.message).toContain("not a tool type tokenpak knows");
    expect(found[2]?.message).toBe(
      "`namespace` tools run at the client and cost only tokens: this price is never used",
    );
    expect(found[4]?.message).toContain("priced as `web_search`");
    expect(found[5]?.message).toContain("uncharged");
  });

  it("no warning for a fallback cheaper than every model", () => {
    const found = warnings(
      config(
        ["  fallback_model_on_exceed: small"],
        [
          "  big:",
          "    provider: mock",
          "    estimated_input_cost_per_1k: 3",
          "    estimated_output_cost_per_1k: 6",
        ],
      ),
    );
    expect(found).toEqual([]);
  });

  it("a per-user limit larger than the workspace limit (pitfall 3)", () => {
    const found = warnings(
      config([
        "  per_user_limits:",
        "    default:",
        "      monthly_limit_cents: 25000",
        "    user_limits:",
        "      user-a:",
        "        daily_limit_cents: 1500",
        "      user-b:",
        "        daily_limit_cents: 500",
      ]),
    );
    expect(found.map(where)).toEqual([
      { path: "budget.per_user_limits.default.monthly_limit_cents", line: 6, col: 28 },
      { path: "budget.per_user_limits.user_limits.user-a.daily_limit_cents", line: 9, col: 28 },
    ]);
    expect(found[0]?.message).toBe(
      "per-user monthly limit $250.00 is larger than the workspace monthly limit $200.00",
    );
    expect(found[1]?.message).toBe(
      "per-user daily limit $15.00 is larger than the workspace daily limit $10.00",
    );
    expect(found[1]?.hint).toContain("pitfall 3");
  });

  it("a daily cap below the most expensive single request (pitfall 4)", () => {
    const found = warnings(
      config(
        [],
        [
          "  big:",
          "    provider: mock",
          "    estimated_input_cost_per_1k: 3",
          "    estimated_output_cost_per_1k: 6",
          "    max_output_tokens: 200000",
        ],
      ),
    );
    expect(found.map(where)).toEqual([{ path: "budget.daily_limit_cents", line: 2, col: 22 }]);
    expect(found[0]?.message).toBe(
      "daily cap $10.00 is below the most expensive single request: big at max_output_tokens 200000 costs up to $12.00",
    );
    expect(found[0]?.hint).toContain("pitfall 4");
  });

  it("no pitfall-4 warning when the dearest request fits the daily cap", () => {
    const found = warnings(
      config(
        [],
        [
          "  big:",
          "    provider: mock",
          "    estimated_output_cost_per_1k: 6",
          "    max_output_tokens: 100000",
        ],
      ),
    );
    // 100k tokens × 6¢/1k = $6.00 < $10.00
    expect(found).toEqual([]);
  });

  it("an admin key without a reconcile filter: the whole organisation's bill would be compared", () => {
    const provider = (reconcile: string[]) =>
      config().replace(
        "providers:\n",
        [
          "providers:",
          "  openai:",
          "    type: openai",
          "    admin_api_key: sk-admin-x",
          ...reconcile,
          "  claude:",
          "    type: anthropic",
          "    admin_api_key: ${ANTHROPIC_ADMIN_KEY:-}",
          "",
        ].join("\n"),
      );
    const found = warnings(provider([]));
    expect(found.map((w) => w.path)).toEqual(["providers.openai.admin_api_key"]);
    expect(found[0]?.message).toBe(
      "no reconcile.project_ids: reconcile-spend compares the whole organisation's openai bill, so traffic that never went through tokenpak counts as drift",
    );
    expect(found[0]?.hint).toBe(
      "give tokenpak's provider key its own project and list it in reconcile.project_ids",
    );
    expect(warnings(provider(["    reconcile: { project_ids: [proj_tokenpak] }"]))).toEqual([]);
  });

  it("no client keys: open mode", () => {
    const text = config().replace(/\nkeys:[\s\S]*$/, "\n");
    expect(text).not.toContain("keys:");
    const found = warnings(text);
    expect(found.map((w) => w.path)).toEqual(["keys"]);
    expect(found[0]?.message).toContain("open mode");
    expect(found[0]?.hint).toContain("loopback");
  });

  it("no models: every request would be refused", () => {
    const text = config().replace(/\nmodels:\n(?: {2,}.*\n)+/, "\n");
    expect(text).not.toContain("models:");
    const found = warnings(text);
    expect(found.map((w) => w.path)).toEqual(["models"]);
    expect(found[0]?.message).toContain("every request will be refused");
  });

  it("an alert webhook over plain http to a non-loopback host", () => {
    const found = warnings(config(["  alert_webhook: http://hooks.example.com/alert"]));
    expect(found.map(where)).toEqual([{ path: "budget.alert_webhook", line: 4, col: 18 }]);
    expect(found[0]?.message).toBe(
      "alert webhook hooks.example.com is plain http: alerts are not sent unencrypted, only logged",
    );
    expect(found[0]?.hint).toContain("https:");
  });

  it("in a list of targets, only the plain-http non-loopback one and the mailto: without SMTP are flagged", () => {
    const found = warnings(
      config([
        "  alert_webhook:",
        "    - http://127.0.0.1:9000/alert",
        "    - http://localhost/alert",
        "    - http://hooks.example.com/alert",
        "    - https://hooks.example.com/alert",
        "    - mailto:ops@example.com",
      ]),
    );
    expect(found.map(where)).toEqual([
      { path: "budget.alert_webhook[2]", line: 7, col: 7 },
      { path: "budget.alert_webhook[4]", line: 9, col: 7 },
    ]);
  });

  it("a mailto: target without alerts.smtp: its alerts only reach the log", () => {
    const found = warnings(config(["  alert_webhook: mailto://ops@example.com"]));
    expect(found.map(where)).toEqual([{ path: "budget.alert_webhook", line: 4, col: 18 }]);
    expect(found[0]?.message).toBe(
      "alert target mailto://ops@example.com needs alerts.smtp, which is not configured: these alerts only reach the alerts log",
    );
    expect(found[0]?.hint).toContain("alerts.smtp");
    const withSmtp = `${config(["  alert_webhook: mailto:ops@example.com"])}\nalerts:\n  smtp: { host: smtp.example.com }`;
    expect(warnings(withSmtp)).toEqual([]);
  });

  it("no warning for http to 127.0.0.1", () => {
    expect(warnings(config(["  alert_webhook: http://127.0.0.1:9000/alert"]))).toEqual([]);
  });
});

describe("environment interpolation", () => {
  const provider = (apiKey: string) =>
    ["providers:", "  openai:", "    type: openai", `    api_key: ${apiKey}`].join("\n");

  it("a set variable is substituted", () => {
    const config = valid(provider("${TP_KEY}"), { TP_KEY: "sk-from-env" });
    expect(config.providers?.openai?.api_key).toBe("sk-from-env");
  });

  it("variables are substituted inside longer strings", () => {
    const config = valid(
      [
        "providers:",
        "  local:",
        "    type: openai-compatible",
        "    base_url: http://${TP_HOST}:${TP_PORT:-8080}/v1",
      ].join("\n"),
      { TP_HOST: "10.0.0.5" },
    );
    expect(config.providers?.local?.base_url).toBe("http://10.0.0.5:8080/v1");
  });

  it("an unset variable without a default is an error naming it, at its place", () => {
    const result = check(provider("${TP_KEY}"), {});
    expect(result.valid).toBe(false);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0] && where(result.errors[0])).toEqual({
      path: "providers.openai.api_key",
      line: 4,
      col: 14,
    });
    expect(result.errors[0]?.message).toBe("environment variable TP_KEY is not set");
    expect(result.errors[0]?.hint).toBe("export TP_KEY=… or write ${TP_KEY:-default}");
  });

  it("every unset variable is reported", () => {
    const result = check(
      [
        "providers:",
        "  openai:",
        "    type: openai",
        "    api_key: ${TP_KEY_A}",
        "    admin_api_key: ${TP_KEY_B}",
      ].join("\n"),
    );
    expect(result.errors.map((e) => e.message)).toEqual([
      "environment variable TP_KEY_A is not set",
      "environment variable TP_KEY_B is not set",
    ]);
  });

  it("${VAR:-default} uses the default when the variable is unset", () => {
    expect(valid(provider("${TP_KEY:-sk-default}")).providers?.openai?.api_key).toBe("sk-default");
  });

  it("${VAR:-default} uses the variable when it is set", () => {
    const config = valid(provider("${TP_KEY:-sk-default}"), { TP_KEY: "sk-set" });
    expect(config.providers?.openai?.api_key).toBe("sk-set");
  });

  it("${VAR:-default} uses the default when the variable is set but empty", () => {
    const config = valid(provider("${TP_KEY:-sk-default}"), { TP_KEY: "" });
    expect(config.providers?.openai?.api_key).toBe("sk-default");
  });

  it("${VAR:-} gives an empty string", () => {
    expect(valid(provider('"${TP_KEY:-}"')).providers?.openai?.api_key).toBe("");
  });

  it("$${VAR} is a literal ${VAR}, never looked up", () => {
    for (const env of [{}, { TP_KEY: "sk-set" }]) {
      const config = valid(provider('"$${TP_KEY}"'), env);
      expect(config.providers?.openai?.api_key).toBe("${TP_KEY}");
    }
  });

  it("a whole ${PORT} becomes a number where the schema wants one", () => {
    const config = valid("server:\n  port: ${PORT}\n", { PORT: "9000" });
    expect(config.server.port).toBe(9000);
    expect(valid("server:\n  port: ${PORT:-8123}\n").server.port).toBe(8123);
  });

  it("a whole ${VAR} becomes a boolean where the schema wants one", () => {
    const config = valid("budget:\n  reject_on_exceed: ${TP_HARD}\n", { TP_HARD: "false" });
    expect(config.budget.reject_on_exceed).toBe(false);
  });

  it("a whole ${VAR} stays a string where the schema wants a string", () => {
    const config = valid("server:\n  admin_token: ${TP_TOKEN}\n", { TP_TOKEN: "12345" });
    expect(config.server.admin_token).toBe("12345");
  });

  it("warns on an admin token written in the file, or a ${VAR:-default} one; ${VAR} and ${VAR:-} are fine", () => {
    const adminWarnings = (token: string, env: Env = {}) =>
      check(`server:\n  admin_token: ${token}\n`, env).warnings.filter(
        (w) => w.path === "server.admin_token",
      );
    expect(adminWarnings("abcdefghijklmnopqrstuvwxyz0123").map((w) => w.message)).toEqual([
      "the admin token is written in the file: whoever reads it (a backup, the repository, a support bundle) can use the admin API",
    ]);
    // Set or not, the default is in the file for whoever starts it without the variable.
    for (const env of [{}, { TP_ADMIN: "from-the-environment-0123456789" }]) {
      const warned = adminWarnings("${TP_ADMIN:-change-me-admin-token}", env);
      expect(warned.map((w) => w.message)).toEqual([
        "the admin token falls back to a value written in the file when TP_ADMIN is unset: whoever has read the file knows it, and it changes keys and budgets",
      ]);
      expect(warned[0]?.hint).toContain("write `${TP_ADMIN}` with no default");
      expect(warned[0]).toMatchObject({ severity: "warning", line: 2 });
    }
    expect(adminWarnings("${TP_ADMIN}", { TP_ADMIN: "from-the-environment-0123456789" })).toEqual([]);
    expect(adminWarnings("${TP_ADMIN:-}")).toEqual([]);
    expect(check("server:\n  admin_token: ${TP_ADMIN:-change-me-admin-token}\n").valid).toBe(true);
  });

  it("only a whole ${VAR} is read as a number, not a quoted literal", () => {
    const result = check('server:\n  port: "8000"\n');
    expect(result.errors.map((e) => e.message)).toEqual(['must be a whole number, got string "8000"']);
  });

  it("an unset ${PORT} is reported once, as the missing variable", () => {
    const result = check("server:\n  port: ${PORT}\n");
    expect(result.errors.map((e) => e.message)).toEqual(["environment variable PORT is not set"]);
  });

  it("keys are never interpolated", () => {
    const config = valid("teams:\n  ${TP_TEAM}:\n    daily_limit_cents: 100\n", { TP_TEAM: "x" });
    expect(Object.keys(config.teams ?? {})).toEqual(["${TP_TEAM}"]);
  });
});

describe("defaults", () => {
  it("an empty file gets every default", () => {
    const config = valid("");
    expect(config.server).toEqual({ host: "127.0.0.1", port: 8000, max_body_bytes: 10_485_760 });
    expect(config.budget).toEqual({
      enabled: true,
      reject_on_exceed: true,
      hard_stop_pct: 100,
      timezone: "UTC",
    });
    expect(config.storage).toEqual({ backend: "file", fsync: "batch" });
    expect(config.pricing).toEqual({
      stale_after_hours: 48,
      unknown_model: "refuse",
      unknown_tool: "refuse",
      fetch_timeout_ms: 30_000,
      sources: {
        openai: "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json",
        anthropic:
          "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json",
      },
    });
  });

  it("defaults fill the recipe's config without overriding what it sets", () => {
    const config = valid(example("config.yaml"), { OPENAI_API_KEY: "sk-x" });
    expect(config.server.port).toBe(8000);
    expect(config.server.host).toBe("127.0.0.1");
    expect(config.budget.hard_stop_pct).toBe(100);
    expect(config.budget.timezone).toBe("UTC");
    expect(config.budget.reject_on_exceed).toBe(true);
  });

  it("values given win over defaults", () => {
    const config = valid(
      [
        "budget:",
        "  reject_on_exceed: false",
        "  hard_stop_pct: 120",
        "  timezone: Europe/Berlin",
        "  per_user_limits:",
        "    user_limits: {}",
        "server:",
        "  host: 0.0.0.0",
        "  port: 0",
      ].join("\n"),
    );
    expect(config.budget).toMatchObject({
      reject_on_exceed: false,
      hard_stop_pct: 120,
      timezone: "Europe/Berlin",
      // per_user_limits.enabled defaults to true once the section exists.
      per_user_limits: { enabled: true },
    });
    expect(config.server).toEqual({ host: "0.0.0.0", port: 0, max_body_bytes: 10_485_760 });
  });
});

describe("the returned config", () => {
  it("is frozen all the way down", () => {
    const config = valid(example("full.yaml"));
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.budget)).toBe(true);
    expect(Object.isFrozen(config.budget.per_user_limits?.user_limits?.alice)).toBe(true);
    expect(Object.isFrozen(config.keys)).toBe(true);
    expect(Object.isFrozen(config.keys?.[0])).toBe(true);
    expect(Reflect.set(config.budget, "daily_limit_cents", 1)).toBe(false);
    expect(config.budget.daily_limit_cents).toBe(20000);
    expect(() => (config.keys as unknown[] | undefined)?.push({})).toThrow(TypeError);
  });
});

describe("alertThresholds", () => {
  const thresholds = (text: string, env: Env = {}) => alertThresholds(valid(text, env));

  it("is the recipe's single alert_threshold_pct", () => {
    expect(thresholds(example("config.yaml"), { OPENAI_API_KEY: "sk-x" })).toEqual([80]);
  });

  it("merges alert_threshold_pct into alert_thresholds_pct, sorted, without repeats", () => {
    expect(thresholds(example("full.yaml"))).toEqual([50, 80, 90, 100]);
    expect(thresholds("budget:\n  alert_threshold_pct: 80\n  alert_thresholds_pct: [100, 80, 50]\n")).toEqual(
      [50, 80, 100],
    );
  });

  it("is the list alone when only alert_thresholds_pct is set", () => {
    expect(thresholds("budget:\n  alert_thresholds_pct: [90]\n")).toEqual([90]);
  });

  it("defaults to [80, 100]", () => {
    expect(thresholds("")).toEqual([80, 100]);
  });
});
