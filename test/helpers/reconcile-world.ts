// The world reconcile-spend tests run in: a fake upstream (for the proxy's traffic) that
// also serves fake OpenAI and Anthropic admin APIs on the same origin, as a provider's
// base_url does; workspaces with a config and data directory; spend recorded by the real
// proxy on chosen days; the command run in-process as the CLI runs it.
import { writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import type { JournalEntry } from "../../src/ledger/journal.js";
import { startProxy } from "../../src/server/serve.js";
import { runInProcess } from "./cli.js";
import { type AdminRoutes, createFakeAdmin, type Spend } from "./fake-admin.js";
import { type FakeUpstream, startFakeUpstream } from "./fake-upstream.js";
import { journalEntries, settleEntries } from "./journal.js";
import type { Parsed } from "./json.js";
import { configFrom } from "./policy.js";

export const ADMIN_KEY = "sk-admin-reconcile-test";
const DAY_MS = 86_400_000;
export const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
/** The default period: the last 3 complete UTC days, oldest first. */
export const DAYS = [3, 2, 1].map((n) => utcDay(Date.now() - n * DAY_MS));

export let admin: AdminRoutes;
export let upstream: FakeUpstream;

/** Starts the fakes (beforeAll). */
export async function startWorld(): Promise<void> {
  admin = createFakeAdmin({ adminKey: ADMIN_KEY, pageSize: 1 });
  upstream = await startFakeUpstream({ replyTokens: 40, also: (req, res) => admin.handle(req, res) });
}

/** Forgets the bill and what was asked (afterEach). */
export function resetWorld(): void {
  admin.spend.length = 0;
  admin.other.length = 0;
  admin.requests.length = 0;
  admin.next.length = 0;
  admin.closeHanging();
  upstream.options.latencyMs = 0;
}

export async function stopWorld(): Promise<void> {
  await upstream.close();
}

export function yaml(extra = ""): string {
  return `
budget:
  daily_limit_cents: 100000
  monthly_limit_cents: 1000000
  per_user_limits: { enabled: true, default: { daily_limit_cents: 50000 } }
teams:
  blue: {}
projects:
  bot: { team: blue }
  web: {}
keys:
  - { name: alice-key, key: tp-alice-key-0001, project: bot, user: alice }
  - { name: bob-key, key: tp-bob-key-000001, project: web, user: bob }
  - { name: carol-key, key: tp-carol-key-0001, project: bot, user: carol }
providers:
  openai:
    type: openai
    api_key: sk-upstream-openai
    base_url: "${upstream.url}/v1"
    admin_api_key: \${OPENAI_ADMIN_KEY}
    reconcile: { project_ids: [proj_tokenpak], timeout_ms: 1500 }
  anthropic:
    type: anthropic
    api_key: sk-upstream-anthropic
    base_url: "${upstream.url}"
    admin_api_key: \${ANTHROPIC_ADMIN_KEY}
    reconcile: { workspace_ids: [wrkspc_tokenpak, default] }
models:
  # Dear prices (pinned: the price table would win), so that a few requests make drift of whole cents.
  gpt-4o: { provider: openai, upstream_model: gpt-4o-2024-08-06, pin_price: true, estimated_input_cost_per_1k: 25, estimated_output_cost_per_1k: 100 }
  gpt-4o-mini: { provider: openai, pin_price: true, estimated_input_cost_per_1k: 1.5, estimated_output_cost_per_1k: 6 }
  claude: { provider: anthropic, upstream_model: claude-sonnet-4-20250514, pin_price: true, estimated_input_cost_per_1k: 30, estimated_output_cost_per_1k: 150 }
${extra}`;
}

export const ENV = { OPENAI_ADMIN_KEY: ADMIN_KEY, ANTHROPIC_ADMIN_KEY: ADMIN_KEY };

export interface Workspace {
  config: string;
  data: string;
}

export async function workspace(extra = ""): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), "tokenpak-reconcile-"));
  const config = join(dir, "tokenpak.yaml");
  writeFileSync(config, yaml(extra));
  return { config, data: join(dir, "data") };
}

export type Traffic = { key: string; model: string; n: number }[];

/** Runs real requests through the proxy with its clock on `day`, so their spend is that day's. */
export async function spendOn(w: Workspace, day: string, traffic: Traffic): Promise<void> {
  let tick = 0;
  const proxy = await startProxy({
    config: configFrom(yaml(), ENV),
    dataDir: w.data,
    port: 0,
    clock: () => Date.parse(`${day}T10:00:00Z`) + tick++,
  });
  try {
    for (const t of traffic) {
      for (let i = 0; i < t.n; i++) {
        const anthropic = t.model === "claude";
        const res = await fetch(`${proxy.url}${anthropic ? "/v1/messages" : "/v1/chat/completions"}`, {
          method: "POST",
          headers: { authorization: `Bearer ${t.key}`, "content-type": "application/json" },
          body: JSON.stringify({
            model: t.model,
            max_tokens: 100,
            messages: [{ role: "user", content: `request ${i} of ${t.key}` }],
          }),
        });
        expect(res.status).toBe(200);
        await res.text();
      }
    }
  } finally {
    await proxy.close();
  }
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json: () => Parsed;
}

/** `tokenpak reconcile-spend` in this process (the daemon-less path unless a proxy runs); --provider openai unless given. */
export async function reconcile(
  w: Workspace,
  args: string[],
  env: Record<string, string> = ENV,
): Promise<Run> {
  const provider = args.includes("--provider") ? [] : ["--provider", "openai"];
  const run = await runInProcess(
    ["reconcile-spend", "--config", w.config, "--data-dir", w.data, ...provider, ...args],
    process.cwd(),
    env,
  );
  return { ...run, json: () => JSON.parse(run.stdout) as Parsed };
}

export type Adjust = Extract<JournalEntry, { type: "adjust" }>;
export const adjustments = (w: Workspace) =>
  journalEntries(w.data).filter((e): e is Adjust => e.type === "adjust");

/** The ledger's settled spend (µ¢) and tokens per "day|model" for a provider. */
export function settled(w: Workspace, provider: string): Map<string, { cost: number; tokens: number }> {
  const out = new Map<string, { cost: number; tokens: number }>();
  for (const e of settleEntries(w.data)) {
    if (e.provider !== provider) continue;
    const key = `${utcDay(Date.parse(e.reserved_at ?? e.ts))}|${e.model}`;
    const held = out.get(key) ?? { cost: 0, tokens: 0 };
    out.set(key, { cost: held.cost + e.cost, tokens: held.tokens + e.tokens });
  }
  return out;
}

/** A bill line split 40/60 into input and output the way the provider itemises it. */
export function bill(day: string, model: string, owner: string | null, micros: number, tokens = 0): Spend {
  const input = Math.floor(micros * 0.4);
  return {
    day,
    model,
    owner,
    inputMicros: input,
    outputMicros: micros - input,
    inputTokens: Math.floor(tokens / 2),
    outputTokens: tokens - Math.floor(tokens / 2),
  };
}

export const OPENAI_TRAFFIC: Traffic = [
  { key: "tp-alice-key-0001", model: "gpt-4o", n: 3 },
  { key: "tp-bob-key-000001", model: "gpt-4o", n: 1 },
  { key: "tp-carol-key-0001", model: "gpt-4o-mini", n: 2 },
];
