// reconcile-spend end to end: spend recorded by the real proxy (startProxy against the
// fake upstream), the provider's bill served by fake OpenAI and Anthropic admin APIs with
// the real field names, pagination and filters, the command run as the CLI runs it.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { spendReport } from "../src/ledger/report.js";
import { startProxy } from "../src/server/serve.js";
import { journalEntries, settleEntries } from "./helpers/journal.js";
import type { Parsed } from "./helpers/json.js";
import { configFrom } from "./helpers/policy.js";
import {
  ADMIN_KEY,
  adjustments,
  admin,
  bill,
  DAYS,
  ENV,
  OPENAI_TRAFFIC,
  reconcile,
  resetWorld,
  settled,
  spendOn,
  startWorld,
  stopWorld,
  utcDay,
  workspace,
  yaml,
} from "./helpers/reconcile-world.js";

const [D1, D2, D3] = DAYS as [string, string, string];

beforeAll(startWorld);
afterEach(resetWorld);
afterAll(stopWorld);

describe("reconcile-spend against OpenAI's organization costs", () => {
  it("finds the drift, corrects per project and user, alerts once; a rerun and a dry run write nothing", async () => {
    const w = await workspace();
    for (const day of DAYS) await spendOn(w, day, OPENAI_TRAFFIC);
    const ledger = settled(w, "openai");
    const gpt = (day: string) => ledger.get(`${day}|gpt-4o`)?.cost ?? 0;
    const mini = (day: string) => ledger.get(`${day}|gpt-4o-mini`)?.cost ?? 0;
    const tokens = (day: string, model: string) => ledger.get(`${day}|${model}`)?.tokens ?? 0;
    expect(gpt(D1)).toBeGreaterThan(0);
    // D1: gpt-4o billed 25% above the ledger (streamed spend under-counted, say). D2: exact.
    // D3: 2% over, within the threshold. Another project's spend is not ours and is filtered out.
    const billed1 = Math.round(gpt(D1) * 1.25);
    const billed3 = Math.round(gpt(D3) * 1.02);
    admin.spend.push(
      bill(D1, "gpt-4o-2024-08-06", "proj_tokenpak", billed1, 5000),
      bill(D1, "gpt-4o-mini", "proj_tokenpak", mini(D1), tokens(D1, "gpt-4o-mini")),
      bill(D2, "gpt-4o-2024-08-06", "proj_tokenpak", gpt(D2), tokens(D2, "gpt-4o")),
      bill(D2, "gpt-4o-mini", "proj_tokenpak", mini(D2), tokens(D2, "gpt-4o-mini")),
      bill(D3, "gpt-4o-2024-08-06", "proj_tokenpak", billed3, tokens(D3, "gpt-4o")),
      bill(D3, "gpt-4o-mini", "proj_tokenpak", mini(D3), tokens(D3, "gpt-4o-mini")),
      bill(D1, "gpt-4o-2024-08-06", "proj_other", 50_000_000_000),
      bill(D2, "o3", "proj_other", 7_000_000_000),
    );

    const first = await reconcile(w, []);
    expect(first.stderr).toContain(`✗ openai drifted beyond ±5% on ${D1}`);
    expect(first.code).toBe(12);
    const money = "\\$[\\d.]+";
    expect(first.stdout).toMatch(new RegExp(`${D1}  gpt-4o +${money} +${money} +\\+${money} +\\+25\\.0%\n`));
    expect(first.stdout).toMatch(
      new RegExp(`${D1}  \\(day\\) +${money} +${money} +\\+${money} +\\+2\\d\\.\\d% +DRIFT\n`),
    );
    expect(first.stdout).toMatch(
      new RegExp(`${D3}  \\(day\\) +${money} +${money} +\\+${money} +\\+1\\.9%\n`),
    );
    expect(first.stdout).toContain("TOTAL");
    expect(first.stdout).toContain("projects proj_tokenpak");

    // Every page of both reports was fetched, with the filter, bucket width and grouping asked for.
    const costs = admin.requests.filter((r) => r.path === "/v1/organization/costs");
    const usage = admin.requests.filter((r) => r.path === "/v1/organization/usage/completions");
    expect(costs).toHaveLength(3);
    expect(usage).toHaveLength(3);
    expect(costs[0]?.query.getAll("project_ids[]")).toEqual(["proj_tokenpak"]);
    expect(costs[0]?.query.getAll("group_by[]")).toEqual(["line_item", "project_id"]);
    expect(costs[0]?.query.get("bucket_width")).toBe("1d");
    expect(Number(costs[0]?.query.get("start_time"))).toBe(Date.parse(`${D1}T00:00:00Z`) / 1000);
    expect(Number(costs[0]?.query.get("end_time"))).toBe(Date.parse(`${D3}T00:00:00Z`) / 1000 + 86_400);
    expect(costs[0]?.query.has("page")).toBe(false);
    expect(costs[1]?.query.get("page")).toMatch(/^page_/);
    expect(costs[0]?.headers.authorization).toBe(`Bearer ${ADMIN_KEY}`);

    // The corrections: D1's gpt-4o delta, spread over alice (3 requests) and bob (1), exactly; D3's 2%.
    const written = adjustments(w);
    const d1 = written.filter((a) => a.reconcile?.day === D1);
    expect(d1.map((a) => [a.user, a.project, a.team, a.model])).toEqual([
      ["alice", "bot", "blue", "gpt-4o"],
      ["bob", "web", undefined, "gpt-4o"],
    ]);
    const delta1 = billed1 - gpt(D1);
    expect(d1.reduce((s, a) => s + a.cost, 0)).toBe(delta1);
    expect(d1[0]?.cost).toBe(Math.round((delta1 * 3) / 4));
    expect(d1[0]).toMatchObject({
      reason: "reconcile",
      source: "openai:costs",
      provider: "openai",
      key: "alice-key",
      at: `${D1}T12:00:00.000Z`,
      reconcile: { day: D1, model: "gpt-4o", delta: delta1, provider_cost: billed1, ledger_cost: gpt(D1) },
    });
    // Tokens from the usage report: 5000 billed on D1 against what the ledger counted.
    const ledgerTokens = settleEntries(w.data)
      .filter((e) => e.model === "gpt-4o" && e.reserved_at?.startsWith(D1))
      .reduce((s, e) => s + e.tokens, 0);
    expect(d1.reduce((s, a) => s + a.tokens, 0)).toBe(5000 - ledgerTokens);
    expect(written.filter((a) => a.reconcile?.day === D2)).toEqual([]);
    expect(written.filter((a) => a.reconcile?.day === D3).reduce((s, a) => s + a.cost, 0)).toBe(
      billed3 - gpt(D3),
    );

    // The existing report now shows the provider's figures per project and per user.
    const report = (groupBy: ("project" | "user")[]) =>
      spendReport(w.data, {
        from: Date.parse(`${D1}T00:00:00Z`),
        to: Date.parse(`${D2}T00:00:00Z`),
        groupBy,
        timeZone: "UTC",
      });
    const byProject = await report(["project"]);
    expect(byProject.totals.total).toBe(billed1 + mini(D1));
    const corrected = (r: Awaited<ReturnType<typeof report>>, field: "project" | "user", name: string) =>
      r.rows.filter((x) => x.group[field] === name).reduce((s, x) => s + x.total, 0);
    const aliceBefore = settleEntries(w.data)
      .filter((e) => e.user === "alice" && e.reserved_at?.startsWith(D1))
      .reduce((s, e) => s + e.cost, 0);
    const byUser = await report(["user"]);
    expect(corrected(byUser, "user", "alice")).toBe(aliceBefore + (d1[0]?.cost ?? 0));
    expect(corrected(byUser, "user", "bob") + corrected(byUser, "user", "alice")).toBe(billed1);
    expect(corrected(byProject, "project", "web")).toBe(gpt(D1) / 4 + (d1[1]?.cost ?? 0));

    // reconcile.log: one line for the run.
    const log = readFileSync(join(w.data, "reconcile.log"), "utf8").trim().split("\n");
    expect(log).toHaveLength(1);
    expect(log[0]).toMatch(
      new RegExp(
        `provider=openai source=openai:costs period=${D1}\\.\\.${D3} days=3 .* adjustments=${written.length} drift=${D1} via=direct exit=12$`,
      ),
    );
    // The drift alert, once for (openai, D1).
    const alertsLog = () => readFileSync(join(w.data, "alerts.log"), "utf8");
    expect(alertsLog().match(/reconcile_drift/g)).toHaveLength(1);
    expect(alertsLog()).toContain(`on ${D1} (UTC)`);

    // Rerun: the ledger matches the bill, nothing is written, exit 0.
    const second = await reconcile(w, ["--json"]);
    expect(second.code).toBe(0);
    const out = second.json();
    expect(out).toMatchObject({
      provider: "openai",
      exit_code: 0,
      adjustments_written: 0,
      drift_days: [],
      via: "direct",
    });
    expect(out.totals.delta).toBe(0);
    expect(out.days.map((d: Parsed) => d.day)).toEqual(DAYS);
    expect(adjustments(w)).toHaveLength(written.length);

    // The provider revises D1 down a little: only the difference is written, and D1 does not alert again.
    admin.spend[0] = bill(D1, "gpt-4o-2024-08-06", "proj_tokenpak", billed1 - 3_000_000, 5000);
    const dry = await reconcile(w, ["--dry-run", "--json"]);
    expect(dry.json()).toMatchObject({ dry_run: true, via: null, adjustments_written: 0 });
    expect(dry.json().totals.delta).toBe(-3_000_000);
    expect(adjustments(w)).toHaveLength(written.length);
    const revised = await reconcile(w, ["--threshold-pct", "0.1"]);
    expect(revised.code).toBe(12);
    const now = adjustments(w);
    expect(now.slice(written.length).reduce((s, a) => s + a.cost, 0)).toBe(-3_000_000);
    expect(alertsLog().match(/reconcile_drift/g)).toHaveLength(1);
    expect(readFileSync(join(w.data, "reconcile.log"), "utf8").trim().split("\n")).toHaveLength(4);
    // And then it is quiet: nothing printed, exit 0.
    const quiet = await reconcile(w, ["--quiet"]);
    expect(quiet).toMatchObject({ code: 0, stdout: "", stderr: "" });
  });

  it("--include-today reconciles today provisionally: raised, never lowered", async () => {
    const w = await workspace();
    const today = utcDay(Date.now());
    // A proxy on the real clock: today's spend.
    const proxy = await startProxy({ config: configFrom(yaml(), ENV), dataDir: w.data, port: 0 });
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${proxy.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: "Bearer tp-alice-key-0001", "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }),
      });
      expect(res.status).toBe(200);
    }
    await proxy.close();
    const spent = settled(w, "openai").get(`${today}|gpt-4o`)?.cost ?? 0;
    admin.spend.push(bill(today, "gpt-4o-2024-08-06", "proj_tokenpak", Math.floor(spent / 2)));
    const low = await reconcile(w, ["--include-today", "--json"]);
    expect(low.code).toBe(0); // provisional days never count as drift
    expect(low.json().period.provisional).toEqual([today]);
    expect(low.json().lines.find((l: Parsed) => l.day === today)).toMatchObject({
      provisional: true,
      written: 0,
    });
    expect(adjustments(w)).toEqual([]);
    admin.spend[0] = bill(today, "gpt-4o-2024-08-06", "proj_tokenpak", spent * 2);
    const high = await reconcile(w, ["--include-today"]);
    expect(high.code).toBe(0);
    expect(high.stdout).toContain("provisional");
    expect(adjustments(w).reduce((s, a) => s + a.cost, 0)).toBe(spent);
    expect(adjustments(w)[0]?.at ?? adjustments(w)[0]?.ts).toMatch(new RegExp(`^${today}T`)); // counts today
  });
});

describe("reconcile-spend against Anthropic's cost report", () => {
  it("filters workspaces itself (the cost report has no filter), counts non-token costs by day", async () => {
    const w = await workspace();
    await spendOn(w, D2, [
      { key: "tp-alice-key-0001", model: "claude", n: 2 },
      { key: "tp-bob-key-000001", model: "claude", n: 2 },
    ]);
    const spent = settled(w, "anthropic").get(`${D2}|claude`)?.cost ?? 0;
    admin.spend.push(
      bill(D2, "claude-sonnet-4-20250514", "wrkspc_tokenpak", spent - 1_000_000, 800),
      bill(D2, "claude-sonnet-4-20250514", null, 2_000_000), // the default workspace, listed as "default"
      bill(D2, "claude-sonnet-4-20250514", "wrkspc_elsewhere", 900_000_000),
    );
    admin.other.push({ day: D2, owner: "wrkspc_tokenpak", micros: 1_234_567 });
    const run = await reconcile(w, ["--provider", "anthropic", "--json"]);
    const out = run.json();
    const cost = admin.requests.filter((r) => r.path === "/v1/organizations/cost_report");
    const usage = admin.requests.filter((r) => r.path === "/v1/organizations/usage_report/messages");
    expect(cost).toHaveLength(3);
    expect(usage).toHaveLength(3);
    expect(cost[0]?.query.getAll("group_by[]")).toEqual(["workspace_id", "description"]);
    expect(cost[0]?.query.get("starting_at")).toBe(`${D1}T00:00:00.000Z`);
    expect(cost[0]?.headers["x-api-key"]).toBe(ADMIN_KEY);
    expect(cost[0]?.headers["anthropic-version"]).toBe("2023-06-01");
    // "default" cannot be sent as a workspace id: the usage report is grouped and filtered here too.
    expect(usage[0]?.query.has("workspace_ids[]")).toBe(false);
    expect(usage[0]?.query.getAll("group_by[]")).toEqual(["model", "workspace_id"]);

    const day2 = out.lines.filter((l: Parsed) => l.day === D2);
    expect(day2.map((l: Parsed) => [l.model, l.ledger_cost, l.provider_cost])).toEqual([
      ["", 0, 1_234_567],
      ["claude-sonnet-4", spent, spent + 1_000_000],
    ]);
    expect(day2[1].provider_tokens).toBe(800);
    // The web search cost nobody spent on through tokenpak is the workspace's, as a whole-day correction.
    const written = adjustments(w);
    expect(written.find((a) => a.reconcile?.model === "")).toMatchObject({
      cost: 1_234_567,
      source: "anthropic:cost_report",
    });
    expect(written.find((a) => a.reconcile?.model === "")?.user).toBeUndefined();
    expect(
      written.filter((a) => a.reconcile?.model === "claude-sonnet-4").reduce((s, a) => s + a.cost, 0),
    ).toBe(1_000_000);
    // D2 is off by $0.022 (2.23 cents) on a ledger of a few tens of cents: well beyond 5%.
    expect(spent).toBeGreaterThan(10_000_000);
    expect(spent).toBeLessThan(2_234_567 * 20);
    expect(out.days.find((d: Parsed) => d.day === D2)).toMatchObject({ drift: true, delta: 2_234_567 });
    expect(out.drift_days).toEqual([D2]);
    expect(run.code).toBe(12);
  });

  it("sends workspace_ids[] to the usage report, which counts only those workspaces' tokens", async () => {
    const w = await workspace();
    writeFileSync(
      w.config,
      yaml().replace(
        "reconcile: { workspace_ids: [wrkspc_tokenpak, default] }",
        "reconcile: { workspace_ids: [wrkspc_tokenpak], api_key_ids: [apikey_tp] }",
      ),
    );
    await spendOn(w, D2, [{ key: "tp-alice-key-0001", model: "claude", n: 1 }]);
    const spent = settled(w, "anthropic").get(`${D2}|claude`) ?? { cost: 0, tokens: 0 };
    admin.spend.push(
      { ...bill(D2, "claude-sonnet-4-20250514", "wrkspc_tokenpak", spent.cost, 700), apiKey: "apikey_tp" },
      { ...bill(D2, "claude-sonnet-4-20250514", "wrkspc_tokenpak", 0, 50), apiKey: "apikey_other" },
      { ...bill(D2, "claude-sonnet-4-20250514", "wrkspc_elsewhere", 0, 90_000), apiKey: "apikey_tp" },
    );
    const run = await reconcile(w, ["--provider", "anthropic", "--json"]);
    expect(run.code).toBe(0);
    const usage = admin.requests.filter((r) => r.path === "/v1/organizations/usage_report/messages");
    expect(usage).toHaveLength(3);
    for (const r of usage) {
      expect(r.query.getAll("workspace_ids[]")).toEqual(["wrkspc_tokenpak"]);
      expect(r.query.getAll("api_key_ids[]")).toEqual(["apikey_tp"]);
    }
    // The cost report takes neither (the fake refuses them there, as the real one does).
    for (const r of admin.requests.filter((x) => x.path === "/v1/organizations/cost_report")) {
      expect(r.query.has("workspace_ids[]")).toBe(false);
    }
    // Only the tokens of tokenpak's workspace and key: 700, not 700 + 50 + 90,000.
    const line = run.json().lines.find((l: Parsed) => l.day === D2 && l.model === "claude-sonnet-4");
    expect(line).toMatchObject({ provider_tokens: 700, tokens_written: 700 - spent.tokens });
  });

  const anthropicFailures = [
    [
      "a key that is not an admin key (401)",
      { env: { ...ENV, ANTHROPIC_ADMIN_KEY: "sk-ant-api03-not-admin" } },
      1,
      /anthropic refused the admin key \(401 on GET \/v1\/organizations\/cost_report: invalid x-api-key\)/,
    ],
    [
      "500 on the usage report",
      {
        next: [
          { kind: "normal" },
          { kind: "normal" },
          { kind: "normal" },
          {
            kind: "status",
            status: 500,
            body: { type: "error", error: { type: "api_error", message: "Internal server error" } },
          },
        ],
      },
      7,
      /anthropic's admin API answered 500 to GET \/v1\/organizations\/usage_report\/messages \(page 1\): Internal server error/,
    ],
    [
      "a page that is not JSON",
      {
        next: [
          { kind: "normal" },
          { kind: "text", text: "upstream connect error", contentType: "text/plain" },
        ],
      },
      7,
      /page 2 of GET \/v1\/organizations\/cost_report from anthropic is not JSON \(text\/plain\)/,
    ],
  ] as const;

  for (const [what, setup, code, message] of anthropicFailures) {
    it(`${what}: exits ${code} with a clear message and writes nothing`, async () => {
      const w = await workspace();
      await spendOn(w, D2, [{ key: "tp-alice-key-0001", model: "claude", n: 1 }]);
      admin.spend.push(bill(D2, "claude-sonnet-4-20250514", "wrkspc_tokenpak", 999_000_000));
      const before = journalEntries(w.data);
      if ("next" in setup) admin.next.push(...setup.next);
      const run = await reconcile(w, ["--provider", "anthropic"], "env" in setup ? setup.env : ENV);
      expect(run.code).toBe(code);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).not.toContain(ADMIN_KEY);
      expect(run.stderr).not.toMatch(/^\s+at /m);
      expect(journalEntries(w.data)).toEqual(before);
      expect(readFileSync(join(w.data, "reconcile.log"), "utf8")).toMatch(
        new RegExp(`provider=anthropic error=\\w+ .*exit=${code}\\n$`),
      );
      expect(existsSync(join(w.data, "reconcile-anthropic.lock"))).toBe(false);
    });
  }
});

describe("reconcile-spend when the names differ", () => {
  it("a 4-digit snapshot matches; a model billed under another name is compared by day, not zeroed", async () => {
    const w = await workspace();
    await spendOn(w, D1, OPENAI_TRAFFIC);
    const ledger = settled(w, "openai");
    const [gpt, mini] = ["gpt-4o", "gpt-4o-mini"].map(
      (m) => ledger.get(`${D1}|${m}`) ?? { cost: 0, tokens: 0 },
    );
    // mini billed as an old-style snapshot; gpt-4o under a name nothing in the config matches
    admin.spend.push(
      bill(D1, "gpt-4o-mini-0718", "proj_tokenpak", mini?.cost ?? 0, mini?.tokens),
      bill(D1, "chatgpt-4o-latest", "proj_tokenpak", gpt?.cost ?? 0, gpt?.tokens),
    );
    const run = await reconcile(w, ["--json"]);
    expect(run.code).toBe(0);
    const out = run.json();
    expect(out.lines.filter((l: Parsed) => l.day === D1).map((l: Parsed) => [l.model, l.delta])).toEqual([
      ["", 0],
      ["gpt-4o-mini", 0],
    ]);
    expect(out.warnings).toEqual([
      `openai billed chatgpt-4o-latest on ${D1}, which matches no model in the ledger, while the ledger's gpt-4o matches nothing billed: compared as one whole-day line instead of correcting it to $0. If they are the same model, pin it with models.gpt-4o.upstream_model: chatgpt-4o-latest (what the proxy sends upstream)`,
    ]);
    // Nobody's spend moved to the workspace: alice and bob keep theirs.
    expect(adjustments(w)).toEqual([]);
  });
});

describe("reconcile-spend when the provider's figures are incomplete", () => {
  it("days the provider returned no bucket for are left unchanged, with a warning", async () => {
    const w = await workspace();
    await spendOn(w, D1, OPENAI_TRAFFIC);
    await spendOn(w, D2, OPENAI_TRAFFIC.slice(0, 1));
    const empty = { object: "page", data: [], has_more: false, next_page: null };
    admin.next.push(
      { kind: "status", status: 200, body: empty },
      { kind: "status", status: 200, body: empty },
    );
    const run = await reconcile(w, ["--json"]);
    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({ days: [], lines: [], missing_days: DAYS, adjustments_written: 0 });
    expect(run.json().warnings).toContain(
      `openai:costs returned no figures for ${D1} … ${D3} (UTC); left unchanged`,
    );
    expect(adjustments(w)).toEqual([]);
    expect(readFileSync(join(w.data, "reconcile.log"), "utf8")).toContain(`days=0 `);
    expect(readFileSync(join(w.data, "reconcile.log"), "utf8")).toContain(`no_figures=${DAYS.join(",")}`);
  });

  const bucket = (day: string, extra: Record<string, unknown>) => ({
    object: "page",
    data: [{ object: "bucket", start_time: Date.parse(`${day}T00:00:00Z`) / 1000, ...extra }],
    has_more: false,
    next_page: null,
  });
  it.each([
    [
      "a bucket without results",
      bucket(D2, {}),
      /the bucket of \S+ on page 1 of GET \/v1\/organization\/costs has no results list/,
    ],
    [
      "a malformed amount.value",
      bucket(D2, {
        results: [
          {
            object: "organization.costs.result",
            amount: { value: "abc", currency: "usd" },
            line_item: "gpt-4o-2024-08-06, input",
            project_id: "proj_tokenpak",
          },
        ],
      }),
      /openai: amount.value "abc" in the bucket of \S+ on page 1 of GET \/v1\/organization\/costs is not a decimal amount/,
    ],
  ])("%s is the provider's error: exit 7, nothing written", async (_what, body, message) => {
    const w = await workspace();
    await spendOn(w, D2, OPENAI_TRAFFIC.slice(0, 1));
    admin.next.push({ kind: "status", status: 200, body });
    const run = await reconcile(w, []);
    expect(run.code).toBe(7);
    expect(run.stderr).toMatch(message);
    expect(adjustments(w)).toEqual([]);
    expect(readFileSync(join(w.data, "reconcile.log"), "utf8")).toMatch(/error=provider_error .*exit=7\n$/);
  });
});

describe("reconcile-spend: days not settled yet", () => {
  it("a day within settle_hours of its end is only raised and never drift; a drift alerts again when it turns", async () => {
    const w = await workspace();
    // 48 hours: D3 (ended 0–24 h ago) and D2 (24–48 h ago) are still settling, D1 is final.
    writeFileSync(w.config, yaml().replace("timeout_ms: 1500 }", "timeout_ms: 1500, settle_hours: 48 }"));
    await spendOn(w, D1, OPENAI_TRAFFIC.slice(0, 1));
    await spendOn(w, D3, OPENAI_TRAFFIC.slice(0, 1));
    const gpt = (day: string) => settled(w, "openai").get(`${day}|gpt-4o`)?.cost ?? 0;
    // The provider has only part of D3 yet, and billed D1 at half.
    admin.spend.push(
      bill(D1, "gpt-4o-2024-08-06", "proj_tokenpak", Math.round(gpt(D1) / 2)),
      bill(D3, "gpt-4o-2024-08-06", "proj_tokenpak", Math.round(gpt(D3) / 3)),
    );
    const run = await reconcile(w, ["--json"]);
    const out = run.json();
    expect(out.period.provisional).toEqual([D2, D3]);
    expect(out.drift_days).toEqual([D1]);
    expect(run.code).toBe(12);
    expect(out.lines.find((l: Parsed) => l.day === D3)).toMatchObject({ provisional: true, written: 0 });
    expect(adjustments(w).map((a) => a.reconcile?.day)).toEqual([D1]);
    const alerts = () => readFileSync(join(w.data, "alerts.log"), "utf8").match(/reconcile_drift/g) ?? [];
    expect(alerts()).toHaveLength(1);
    // D1 revised to a little less: the same drift, no new alert.
    admin.spend[0] = bill(D1, "gpt-4o-2024-08-06", "proj_tokenpak", Math.round(gpt(D1) / 2) - 2_000_000);
    expect((await reconcile(w, ["--threshold-pct", "0.1"])).code).toBe(12);
    expect(alerts()).toHaveLength(1);
    // D1 now billed at twice the ledger: the drift turned, and alerts again.
    admin.spend[0] = bill(D1, "gpt-4o-2024-08-06", "proj_tokenpak", gpt(D1) * 2);
    const turned = await reconcile(w, ["--json"]);
    expect(turned.json().alerted).toEqual([D1]);
    expect(alerts()).toHaveLength(2);
  });
});

describe("reconcile-spend in a time zone far east", () => {
  it("books a correction on the same date in UTC and in budget.timezone (Pacific/Auckland)", async () => {
    const w = await workspace();
    writeFileSync(w.config, yaml().replace("budget:\n", "budget:\n  timezone: Pacific/Auckland\n"));
    await spendOn(w, D2, OPENAI_TRAFFIC.slice(0, 1));
    admin.spend.push(bill(D2, "gpt-4o-2024-08-06", "proj_tokenpak", 50_000_000));
    expect((await reconcile(w, [])).code).toBe(12);
    const at = adjustments(w)[0]?.at ?? "";
    expect(at).toBe(`${D2}T00:00:00.000Z`);
    expect(new Intl.DateTimeFormat("en-CA", { timeZone: "Pacific/Auckland" }).format(Date.parse(at))).toBe(
      D2,
    );
  });
});

describe("reconcile-spend with a config that does not load", () => {
  it("still leaves its line in reconcile.log (an admin key unset in cron's environment)", async () => {
    const w = await workspace();
    const run = await reconcile(w, [], { ANTHROPIC_ADMIN_KEY: ADMIN_KEY });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("environment variable OPENAI_ADMIN_KEY is not set");
    expect(readFileSync(join(w.data, "reconcile.log"), "utf8")).toMatch(
      /provider=openai error=config_invalid message=".*OPENAI_ADMIN_KEY.*" exit=1\n$/,
    );
  });
});

describe("reconcile-spend without a filter", () => {
  it("warns that the whole organisation's bill is compared", async () => {
    const w = await workspace();
    writeFileSync(
      w.config,
      yaml().replace(
        "reconcile: { project_ids: [proj_tokenpak], timeout_ms: 1500 }",
        "reconcile: { timeout_ms: 1500 }",
      ),
    );
    admin.spend.push(bill(D2, "gpt-4o-2024-08-06", "proj_other", 3_000_000));
    const run = await reconcile(w, []);
    expect(run.stderr).toContain(
      "! no providers.openai.reconcile.project_ids: comparing the whole organisation's bill, including traffic that never went through tokenpak",
    );
    // Then every project's spend is taken for tokenpak's: here, the workspace's.
    expect(admin.requests[0]?.query.has("project_ids[]")).toBe(false);
    expect(adjustments(w).map((a) => [a.cost, a.user, a.model])).toEqual([[3_000_000, undefined, "gpt-4o"]]);
    expect((await reconcile(w, ["--quiet"])).stderr).toBe("");
  });
});

describe("reconcile-spend from a CSV", () => {
  it("reads quoted fields and ignores extra columns; the file's days are the period", async () => {
    const w = await workspace();
    await spendOn(w, D1, OPENAI_TRAFFIC);
    const spent = settled(w, "openai");
    const dollars = (micros: number) => (micros / 100_000_000).toFixed(8);
    const csv = join(w.data, "..", "invoice.csv");
    writeFileSync(
      csv,
      `"Invoice line",date,model,cost_usd,notes\n` +
        `1,${D1},"gpt-4o-2024-08-06","${dollars((spent.get(`${D1}|gpt-4o`)?.cost ?? 0) + 500_000)}","chat, streamed"\n` +
        `2,${D1},gpt-4o-mini,${dollars(spent.get(`${D1}|gpt-4o-mini`)?.cost ?? 0)},\n`,
    );
    const run = await reconcile(w, ["--provider", "openai", "--from-file", csv, "--json"]);
    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({
      source: "csv:invoice.csv",
      period: { since: D1, until: D1 },
      filter: null,
    });
    expect(adjustments(w).reduce((s, a) => s + a.cost, 0)).toBe(500_000);
    expect(admin.requests).toEqual([]);
  });

  it("a malformed row names its line and nothing is written", async () => {
    const w = await workspace();
    await spendOn(w, D1, OPENAI_TRAFFIC.slice(0, 1));
    const before = journalEntries(w.data).length;
    const csv = join(w.data, "..", "bad.csv");
    writeFileSync(csv, `date,model,cost_usd\n${D1},gpt-4o,1.00\n${D2},gpt-4o,"12,50"\n`);
    const run = await reconcile(w, ["--provider", "openai", "--from-file", csv]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `bad.csv:3: cost_usd "12,50" is not an amount in dollars (use a dot for decimals`,
    );
    writeFileSync(csv, `date,model,cost_usd\n${D1},gpt-4o\n`);
    const short = await reconcile(w, ["--provider", "openai", "--from-file", csv]);
    expect(short.stderr).toContain("bad.csv:2: columns length is 3, got 2");
    writeFileSync(csv, `day,model,cost\n${D1},gpt-4o,1\n`);
    const header = await reconcile(w, ["--provider", "openai", "--from-file", csv]);
    expect(header.stderr).toContain("bad.csv:1: the header has no date, cost_usd column");
    expect(journalEntries(w.data)).toHaveLength(before);
    expect(readFileSync(join(w.data, "reconcile.log"), "utf8")).toContain("error=csv_invalid");
  });
});

describe("reconcile-spend when the admin API fails", () => {
  const failures = [
    [
      "a non-admin key (401)",
      { env: { ...ENV, OPENAI_ADMIN_KEY: "sk-proj-not-an-admin-key" } },
      1,
      /refused the admin key \(401 on GET \/v1\/organization\/costs: Incorrect API key provided/,
    ],
    [
      "403",
      {
        next: [
          { kind: "status", status: 403, body: { error: { message: "Missing scopes: api.usage.read" } } },
        ],
      },
      1,
      /refused the admin key \(403 .*Missing scopes/,
    ],
    [
      "500 on the second page",
      {
        next: [
          { kind: "normal" },
          { kind: "status", status: 500, body: { error: { message: "The server had an error" } } },
        ],
      },
      7,
      /admin API answered 500 to GET \/v1\/organization\/costs \(page 2\): The server had an error/,
    ],
    [
      "a timeout",
      { next: [{ kind: "normal" }, { kind: "normal" }, { kind: "normal" }, { kind: "hang" }] },
      7,
      /did not answer GET \/v1\/organization\/usage\/completions \(page 1\) within 1500 ms/,
    ],
    [
      "has_more without a next_page",
      {
        next: [
          {
            kind: "status",
            status: 200,
            body: { object: "page", data: [], has_more: true, next_page: null },
          },
        ],
      },
      7,
      /page 1 of GET \/v1\/organization\/costs from openai says has_more but gives no next_page/,
    ],
    [
      "a page that is not JSON",
      { next: [{ kind: "text", text: "<html>Bad gateway</html>", contentType: "text/html" }] },
      7,
      /page 1 of GET \/v1\/organization\/costs from openai is not JSON \(text\/html\)/,
    ],
  ] as const;

  for (const [what, setup, code, message] of failures) {
    it(`${what}: exits ${code} with a clear message and writes nothing`, async () => {
      const w = await workspace();
      await spendOn(w, D1, OPENAI_TRAFFIC.slice(0, 1));
      admin.spend.push(bill(D1, "gpt-4o-2024-08-06", "proj_tokenpak", 999_000_000));
      const before = journalEntries(w.data);
      if ("next" in setup) admin.next.push(...setup.next);
      const run = await reconcile(w, [], "env" in setup ? setup.env : ENV);
      expect(run.code).toBe(code);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).not.toContain(ADMIN_KEY);
      expect(run.stderr).not.toMatch(/^\s+at /m);
      expect(journalEntries(w.data)).toEqual(before);
      expect(readFileSync(join(w.data, "reconcile.log"), "utf8")).toMatch(
        new RegExp(`error=\\w+ .*exit=${code}\\n$`),
      );
      // The reconcile lock is let go: the next run is not blocked.
      expect(existsSync(join(w.data, "reconcile-openai.lock"))).toBe(false);
    });
  }
});
