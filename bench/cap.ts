/**
 * The cap under load, as issue #10's reporter checked it. Not part of `npm test`.
 *
 *   npm run bench:cap                # 300 concurrent requests vs a $1 cap, then kill -9 under load × 5
 *   npm run bench:cap -- --json F    # also write the figures as JSON
 *
 * The built CLI (`tokenpak proxy`, a subprocess) in front of a fake provider
 * on loopback (test/helpers/fake-upstream.ts, 500-token answers after 50 ms).
 * The mix: OpenAI and Anthropic routes, models on both providers
 * (translation), JSON and streams, `n: 2`, streams the client abandons
 * mid-way and JSON requests it abandons before the answer.
 *
 * 1. 300 at once against a $1.00 daily cap: settled spend (journal) ≤ $1.00,
 *    the counters equal the journal, and what clients were told adds up.
 * 2. kill -9 at a random moment under load, restart, 5 times: the ledger
 *    holds at least every cost a client received in full.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { compilePolicy } from "../src/budget/policy.js";
import { Ledger } from "../src/ledger/ledger.js";
import { type FakeUpstream, startFakeUpstream } from "../test/helpers/fake-upstream.js";
import { journalEntries, settleEntries } from "../test/helpers/journal.js";
import { configFrom } from "../test/helpers/policy.js";

const BIN = fileURLToPath(new URL("../bin/tokenpak.js", import.meta.url));
const TOTAL = {
  window: { kind: "total" as const },
  unit: "cents" as const,
  amount: 0,
  kind: "budget" as const,
};

function yaml(fake: FakeUpstream, cents: number): string {
  return `
budget:
  daily_limit_cents: ${cents}
providers:
  openai: { type: openai, api_key: sk-up, base_url: "${fake.url}/v1", timeout_ms: 5000 }
  anthropic: { type: anthropic, api_key: sk-ant-up, base_url: "${fake.url}", timeout_ms: 5000 }
models:
  gpt-4o: { provider: openai, estimated_input_cost_per_1k: 0.25, estimated_output_cost_per_1k: 1, max_output_tokens: 1000 }
  claude: { provider: anthropic, estimated_input_cost_per_1k: 0.3, estimated_output_cost_per_1k: 1.5, max_output_tokens: 1000 }
`;
}

async function daemon(config: string, data: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [BIN, "proxy", "--config", config, "--data-dir", data, "--port", "0", "--json"],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      const line = out.split("\n")[0];
      if (out.includes("\n") && line) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once("exit", (code) => reject(new Error(`tokenpak proxy exited (${code})`)));
  });
  return { child, url };
}

type Outcome = { status: number; micros: number; kind: string; inFlight?: boolean };

/** One request of the mix; `micros` is the cost the client received in full (0 if it did not). */
async function one(url: string, i: number, user: string): Promise<Outcome> {
  const anthropicRoute = i % 3 === 1;
  const model = i % 4 < 2 ? "gpt-4o" : "claude";
  const stream = i % 2 === 1;
  const leave = i % 10 === 7 ? "mid-stream" : i % 10 === 4 ? "before-answer" : undefined;
  const body: Record<string, unknown> = {
    model,
    max_tokens: 500,
    stream,
    messages: [{ role: "user", content: `Request ${i}: 500 tokens about budgets, please.` }],
  };
  if (!anthropicRoute && model === "gpt-4o" && i % 5 === 0) body.n = 2;
  const controller = new AbortController();
  if (leave === "before-answer") setTimeout(() => controller.abort(), 10);
  const kind = `${anthropicRoute ? "messages" : "chat"} ${model}${stream ? " stream" : ""}${body.n ? " n=2" : ""}${leave ? ` leaves ${leave}` : ""}`;
  try {
    const res = await fetch(`${url}${anthropicRoute ? "/v1/messages" : "/v1/chat/completions"}`, {
      method: "POST",
      headers: { authorization: `Bearer ${user}`, "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    if (res.status !== 200) {
      const error = ((await res.json()) as { error?: { in_flight?: boolean } }).error;
      return { status: res.status, micros: 0, kind, inFlight: error?.in_flight === true };
    }
    if (leave === "mid-stream") {
      const reader = res.body?.getReader();
      for (let n = 0; n < 5; n++) await reader?.read();
      controller.abort();
      return { status: 200, micros: 0, kind };
    }
    const text = await res.text();
    const cents = stream
      ? Number(/cost_cents=([\d.]+)/.exec(text)?.[1])
      : (JSON.parse(text) as { cost_cents: number }).cost_cents;
    return { status: 200, micros: Math.round(cents * 1_000_000), kind };
  } catch {
    return { status: 0, micros: 0, kind };
  }
}

async function capUnderLoad(fake: FakeUpstream, dir: string) {
  const config = join(dir, "cap.yaml");
  const data = join(dir, "cap-data");
  writeFileSync(config, yaml(fake, 100));
  const d = await daemon(config, data);
  const began = Date.now();
  const outcomes = await Promise.all(Array.from({ length: 300 }, (_, i) => one(d.url, i, `user-${i % 7}`)));
  const seconds = (Date.now() - began) / 1000;
  await new Promise((r) => setTimeout(r, 300)); // abandoned JSON requests settle once their answer is read
  d.child.kill("SIGTERM");
  await new Promise((r) => d.child.once("exit", r));
  const settles = settleEntries(data);
  const journalMicros = settles.reduce((a, s) => a + s.cost, 0);
  const { ledger } = await Ledger.open({ dir: data, policy: compilePolicy(configFrom(yaml(fake, 100))) });
  const counters = ledger.usage("workspace", TOTAL).spent;
  await ledger.close();
  const byStatus: Record<string, number> = {};
  for (const s of settles) byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
  return {
    requests: outcomes.length,
    seconds,
    served: outcomes.filter((o) => o.status === 200).length,
    refusedSpent: outcomes.filter((o) => o.status === 402 && !o.inFlight).length,
    refusedInFlight: outcomes.filter((o) => o.status === 402 && o.inFlight).length,
    otherStatus: outcomes.filter((o) => o.status !== 200 && o.status !== 402 && o.status !== 0).length,
    capCents: 100,
    settledCents: journalMicros / 1_000_000,
    countersEqualJournal: counters === journalMicros,
    receivedCents: outcomes.reduce((a, o) => a + o.micros, 0) / 1_000_000,
    settleStatuses: byStatus,
    reserves: journalEntries(data).filter((e) => e.type === "reserve").length,
  };
}

async function killUnderLoad(fake: FakeUpstream, dir: string, rounds: number) {
  const config = join(dir, "kill.yaml");
  const data = join(dir, "kill-data");
  writeFileSync(config, yaml(fake, 1_000_000));
  let acked = 0;
  const out: {
    round: number;
    ackedCents: number;
    ledgerCents: number;
    inFlightAtKill: number;
    recovered: number;
  }[] = [];
  for (let round = 1; round <= rounds; round++) {
    const d = await daemon(config, data);
    let stopped = false;
    let inFlight = 0;
    const worker = async (w: number) => {
      for (let i = 0; !stopped; i++) {
        inFlight++;
        const o = await one(d.url, w * 1000 + i, `user-${w}`);
        inFlight--;
        if (!stopped && o.status === 200) acked += o.micros;
      }
    };
    const workers = Array.from({ length: 16 }, (_, w) => worker(w));
    await new Promise((r) => setTimeout(r, 400 + Math.floor(Math.random() * 800)));
    const inFlightAtKill = inFlight;
    d.child.kill("SIGKILL");
    stopped = true;
    await Promise.all(workers);
    const restarted = await daemon(config, data);
    restarted.child.kill("SIGTERM");
    await new Promise((r) => restarted.child.once("exit", r));
    const { ledger } = await Ledger.open({
      dir: data,
      policy: compilePolicy(configFrom(yaml(fake, 1_000_000))),
    });
    const spent = ledger.usage("workspace", TOTAL).spent;
    await ledger.close();
    const recovered = settleEntries(data).filter((s) => s.status === "recovered").length;
    out.push({
      round,
      ackedCents: acked / 1_000_000,
      ledgerCents: spent / 1_000_000,
      inFlightAtKill,
      recovered,
    });
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { json: { type: "string" }, rounds: { type: "string" } } });
  const fake = await startFakeUpstream({ replyTokens: 500, latencyMs: 50 });
  const dir = mkdtempSync(join(tmpdir(), "tokenpak-bench-cap-"));
  try {
    const cap = await capUnderLoad(fake, dir);
    console.log("\n300 concurrent requests against a $1.00 daily cap");
    console.log(
      `  served ${cap.served}, refused ${cap.refusedSpent} (spent) + ${cap.refusedInFlight} (held in flight, retryable), other ${cap.otherStatus}, in ${cap.seconds.toFixed(1)} s`,
    );
    console.log(
      `  settled ${cap.settledCents.toFixed(4)}¢ of a ${cap.capCents}¢ cap; counters = journal: ${cap.countersEqualJournal}`,
    );
    console.log(
      `  clients received costs totalling ${cap.receivedCents.toFixed(4)}¢ (abandoned requests are charged but never received)`,
    );
    console.log(`  ${cap.reserves} reserved; settle statuses: ${JSON.stringify(cap.settleStatuses)}`);
    const kills = await killUnderLoad(fake, dir, Number(values.rounds ?? 5));
    console.log("\nkill -9 under load (16 clients), then a restart");
    for (const k of kills) {
      console.log(
        `  round ${k.round}: ${k.inFlightAtKill} in flight at the kill; acknowledged so far ${k.ackedCents.toFixed(4)}¢, ledger ${k.ledgerCents.toFixed(4)}¢ (${k.ledgerCents >= k.ackedCents ? "holds every acknowledged answer" : "LOST SPEND"}), ${k.recovered} charged as recovered`,
      );
    }
    if (values.json) writeFileSync(values.json, `${JSON.stringify({ cap, kills }, null, 2)}\n`);
    if (
      cap.settledCents > cap.capCents ||
      !cap.countersEqualJournal ||
      kills.some((k) => k.ledgerCents < k.ackedCents)
    )
      process.exitCode = 1;
  } finally {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
