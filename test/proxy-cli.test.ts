// `tokenpak proxy` as a user runs it: the built CLI (bin/tokenpak.js → dist/)
// in a subprocess, against a fake OpenAI/Anthropic upstream in this process.
// `npm test` builds before it runs vitest.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { compilePolicy } from "../src/budget/policy.js";
import { Ledger } from "../src/ledger/ledger.js";
import { type FakeUpstream, startFakeUpstream } from "./helpers/fake-upstream.js";
import { journalEntries, settleEntries } from "./helpers/journal.js";
import { configFrom } from "./helpers/policy.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(ROOT, "bin", "tokenpak.js");
/** The ledger keeps only windows a limit counts in: a 30-day rolling one sums every round, across a month's end too. */
const LAST_30_DAYS = {
  window: { kind: "rolling" as const, ms: 30 * 86_400_000, label: "30d" },
  unit: "cents" as const,
  amount: 0,
  kind: "budget" as const,
};

let fake: FakeUpstream;
let scratch: string;
const running = new Set<ChildProcess>();

beforeAll(async () => {
  fake = await startFakeUpstream({ replyTokens: 40 });
  scratch = mkdtempSync(join(tmpdir(), "tokenpak-proxy-cli-"));
});
afterEach(() => {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
  fake.next.length = 0;
});
afterAll(async () => {
  await fake.close();
  rmSync(scratch, { recursive: true, force: true });
});

let dirs = 0;
/** A fresh directory holding tokenpak.yaml (from `yaml`) and, beside it, data/. */
function workspace(yaml: string): { config: string; data: string } {
  const dir = join(scratch, `w${++dirs}`);
  mkdirSync(dir, { recursive: true });
  const config = join(dir, "tokenpak.yaml");
  writeFileSync(config, yaml);
  return { config, data: join(dir, "data") };
}

/** The budgets the daemon enforces in these tests: generous, with per-user limits. */
function config(extra = ""): string {
  return `
budget:
  daily_limit_cents: 100000
  monthly_limit_cents: 2000000
  rolling_limits: [{ window: 30d, limit_cents: 2000000 }]
  per_user_limits:
    enabled: true
    default: { daily_limit_cents: 50000 }
providers:
  openai: { type: openai, api_key: sk-upstream-secret, base_url: "${fake.url}/v1", timeout_ms: 5000 }
models:
  gpt-4o: { provider: openai, estimated_input_cost_per_1k: 0.25, estimated_output_cost_per_1k: 1, max_output_tokens: 1024 }
${extra}`;
}

interface Daemon {
  child: ChildProcess;
  /** The first line on stdout. */
  banner: string;
  url: string;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `tokenpak proxy …args` and waits for its one-line banner; rejects if it exits first. */
function launch(args: readonly string[]): ChildProcess {
  const child = spawn(process.execPath, [BIN, "proxy", ...args], {
    cwd: scratch,
    env: { PATH: process.env.PATH ?? "", HOME: scratch, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  return child;
}

function spawnProxy(args: readonly string[]): Promise<Daemon> {
  const child = launch(args);
  let out = "";
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  return new Promise((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => {
      const before = out;
      out += d.toString();
      if (before.includes("\n") || !out.includes("\n")) return;
      const banner = out.slice(0, out.indexOf("\n"));
      const url = /https?:\/\/\S+/.exec(banner)?.[0];
      if (!url) reject(new Error(`no URL in the banner: ${banner}`));
      else resolve({ child, banner, url, stdout: () => out, stderr: () => err, exited });
    });
    void exited.then(({ code, signal }) => {
      reject(new Error(`tokenpak proxy exited (code ${code}, ${signal}) before it was ready: ${err}`));
    });
  });
}

/** Runs `tokenpak proxy …args` expecting it to refuse to start. */
async function refusedStart(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  const child = launch(args);
  let err = "";
  let out = "";
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
  running.delete(child);
  expect(out).toBe("");
  return { code, stderr: err };
}

const hello = [{ role: "user", content: "Say hello" }];

async function chat(url: string, user: string): Promise<{ id: string; micros: number; status: number }> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${user}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o", messages: hello }),
  });
  const body = (await res.json()) as { cost_cents?: number };
  return {
    id: res.headers.get("x-tokenpak-request-id") ?? "",
    micros: Math.round((body.cost_cents ?? Number.NaN) * 1e6),
    status: res.status,
  };
}

/** Settled request ids and their cost (µ¢), from the journal. */
function settles(data: string): Map<string, number> {
  return new Map(settleEntries(data).map((e) => [e.request_id, e.cost]));
}

describe("tokenpak proxy: start, serve, stop", () => {
  it.each(["SIGTERM", "SIGINT"] as const)(
    "prints one line with its URL and budgets; %s lets the request in flight finish, flushes the ledger and exits 0",
    async (signal) => {
      const w = workspace(config());
      const daemon = await spawnProxy(["--config", w.config, "--port", "0", "--data-dir", w.data]);
      expect(daemon.banner).toMatch(/^✓ tokenpak proxy on http:\/\/127\.0\.0\.1:\d+ — /);
      expect(daemon.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(daemon.banner).toContain("$1,000.00/day");
      expect(daemon.banner).toContain("$20,000.00/month");

      const health = await fetch(`${daemon.url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({
        ok: true,
        open_reservations: 0,
        // nothing synced in this data directory: gpt-4o is priced from the bundled snapshot
        pricing: {
          source: expect.stringMatching(/^bundled snapshot of LiteLLM/),
          fetched_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
          stale: expect.any(Boolean),
          revision: 0,
        },
      });

      const done = [await chat(daemon.url, "user-a"), await chat(daemon.url, "user-b")];
      for (const r of done) expect(r.status).toBe(200);

      // One more, held up at the upstream while the signal arrives.
      fake.next.push({ kind: "delay", ms: 500 });
      const seen = fake.requests.length;
      const slow = chat(daemon.url, "user-a");
      while (fake.requests.length === seen) await new Promise((r) => setTimeout(r, 5));
      daemon.child.kill(signal);
      const last = await slow;
      expect(last.status).toBe(200);
      done.push(last);

      expect(await daemon.exited).toEqual({ code: 0, signal: null });
      expect(daemon.stdout().split("\n").filter(Boolean)).toHaveLength(1);
      expect(daemon.stderr()).toContain("ledger flushed");
      expect(existsSync(join(w.data, "state.json"))).toBe(true);
      expect(existsSync(join(w.data, "tokenpak.lock"))).toBe(false);
      const settled = settles(w.data);
      expect(settled.size).toBe(3);
      for (const r of done) expect(settled.get(r.id), r.id).toBe(r.micros);
    },
  );

  it("a JSON request whose client hangs up is still read to its end and settled at its real usage (#10.5)", async () => {
    const w = workspace(config());
    const daemon = await spawnProxy(["--config", w.config, "--port", "0", "--data-dir", w.data]);
    fake.next.push({ kind: "delay", ms: 300 }); // the provider answers after the client has gone
    const seen = fake.requests.length;
    const cut = fake.cutOff;
    const client = new AbortController();
    const answer = fetch(`${daemon.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: "Bearer user-a", "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o", messages: hello }),
      signal: client.signal,
    }).then(
      () => "answered",
      () => "hung up",
    );
    while (fake.requests.length === seen) await new Promise((r) => setTimeout(r, 5));
    client.abort();
    expect(await answer).toBe("hung up");
    const until = Date.now() + 3000;
    let open = -1;
    while (Date.now() < until) {
      const health = (await (await fetch(`${daemon.url}/healthz`)).json()) as { open_reservations: number };
      open = health.open_reservations;
      if (open === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(open).toBe(0);
    expect(fake.cutOff).toBe(cut); // the provider's answer was read whole: it bills the whole answer
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
    const entries = journalEntries(w.data);
    expect(entries.map((e) => e.type)).toEqual(["reserve", "settle"]);
    expect(entries[1]).toMatchObject({ type: "settle", status: "ok", usage: { output: 40 } });
  });

  it("refuses open mode (no keys) on a non-loopback address unless --insecure", async () => {
    const w = workspace(config());
    const refused = await refusedStart([
      "--config",
      w.config,
      "--port",
      "0",
      "--data-dir",
      w.data,
      "--host",
      "0.0.0.0",
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("--insecure");
    expect(refused.stderr).toMatch(/open mode/);

    const daemon = await spawnProxy([
      "--config",
      w.config,
      "--port",
      "0",
      "--data-dir",
      w.data,
      "--host",
      "0.0.0.0",
      "--insecure",
    ]);
    expect(daemon.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/);
    const port = new URL(daemon.url).port;
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
  });

  it("with client keys configured, listens on a non-loopback address without --insecure", async () => {
    const w = workspace(
      config(`
projects: { bot: {} }
keys:
  - { name: ci, key: tp-test-client-key-1, project: bot }
`),
    );
    const daemon = await spawnProxy([
      "--config",
      w.config,
      "--port",
      "0",
      "--data-dir",
      w.data,
      "--host",
      "0.0.0.0",
    ]);
    const port = new URL(daemon.url).port;
    expect((await chat(`http://127.0.0.1:${port}`, "not-a-key")).status).toBe(401);
    expect((await chat(`http://127.0.0.1:${port}`, "tp-test-client-key-1")).status).toBe(200);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
  });
});

describe("tokenpak proxy: kill -9 under load", () => {
  it("after kill -9 and a restart (4 times), the ledger holds at least every cost_cents a client received", async () => {
    const w = workspace(config());
    const args = ["--config", w.config, "--port", "0", "--data-dir", w.data];
    const WORKERS = 16;
    let ackedMicros = 0;
    let acks = 0;
    const ackedIds = new Map<string, number>();

    for (let round = 1; round <= 4; round++) {
      const daemon = await spawnProxy(args);
      let stopped = false;
      let inFlight = 0;
      let roundAcks = 0;
      const worker = async (n: number) => {
        for (let i = 0; !stopped; i++) {
          inFlight++;
          try {
            const r = await chat(daemon.url, `user-${n}-${i % 3}`);
            if (r.status !== 200) throw new Error(`status ${r.status}`);
            expect(Number.isInteger(r.micros) && r.micros > 0).toBe(true);
            // Received in full: the proxy has acknowledged this cost to its client.
            ackedMicros += r.micros;
            ackedIds.set(r.id, r.micros);
            roundAcks++;
          } catch (error) {
            if (!stopped) throw error;
            return; // the daemon is gone: this request's answer never arrived
          } finally {
            inFlight--;
          }
        }
      };
      const workers = Array.from({ length: WORKERS }, (_, n) => worker(n));
      // Killed at a random moment once it is well under way (a busy machine may take a while to get there).
      while (roundAcks < 15) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 500)));
      const inFlightAtKill = inFlight;
      stopped = true;
      daemon.child.kill("SIGKILL");
      await Promise.all(workers);
      expect(await daemon.exited).toEqual({ code: null, signal: "SIGKILL" });
      expect(inFlightAtKill, "killed under load").toBeGreaterThan(0);
      expect(roundAcks, `round ${round}: answers before the kill`).toBeGreaterThan(10);
      acks += roundAcks;

      // Restart on the same data directory: the dead daemon's lock is taken over, the journal replayed.
      const restarted = await spawnProxy(args);
      const health = (await (await fetch(`${restarted.url}/healthz`)).json()) as {
        open_reservations: number;
      };
      expect(health.open_reservations).toBe(0);
      restarted.child.kill("SIGTERM");
      expect(await restarted.exited).toEqual({ code: 0, signal: null });

      // What the ledger reports, read the way the daemon reads it.
      const { ledger } = await Ledger.open({ dir: w.data, policy: compilePolicy(configFrom(config())) });
      try {
        const spent = ledger.usage("workspace", LAST_30_DAYS).spent;
        expect(spent, `round ${round}: ledger vs acknowledged`).toBeGreaterThanOrEqual(ackedMicros);
        expect(ledger.openReservations).toBe(0);
      } finally {
        await ledger.close();
      }
      // And each acknowledged answer has its own settle line, at the cost the client was told.
      const settled = settles(w.data);
      for (const [id, micros] of ackedIds) expect(settled.get(id), id).toBe(micros);
    }
    expect(acks).toBeGreaterThan(100);
  }, 120_000);
});
