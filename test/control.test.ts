// The daemon's local control channel: a Unix socket in the data directory serving the
// admin router, and reconcile-spend handing its corrections to the running proxy
// through it while the proxy serves a burst of concurrent requests.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, lstatSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Limit } from "../src/budget/policy.js";
import { compilePolicy } from "../src/budget/policy.js";
import { Ledger } from "../src/ledger/ledger.js";
import { formatUsd } from "../src/money/money.js";
import { openAdminSession } from "../src/server/control-client.js";
import { type RunningProxy, startProxy } from "../src/server/serve.js";
import { journalEntries, settleEntries } from "./helpers/journal.js";
import type { Parsed } from "./helpers/json.js";
import { configFrom } from "./helpers/policy.js";
import {
  adjustments,
  admin,
  bill,
  DAYS,
  ENV,
  reconcile,
  resetWorld,
  settled,
  spendOn,
  startWorld,
  stopWorld,
  upstream,
  workspace,
  yaml,
} from "./helpers/reconcile-world.js";

const [, D2] = DAYS as [string, string, string];
const BIN = join(fileURLToPath(new URL("..", import.meta.url)), "bin", "tokenpak.js");
const TOTAL: Limit = { window: { kind: "total" }, unit: "cents", amount: 0, kind: "budget" };

const proxies: RunningProxy[] = [];
const children: ChildProcess[] = [];
beforeAll(startWorld);
afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close();
  for (const c of children.splice(0)) c.kill("SIGKILL");
  resetWorld();
});
afterAll(stopWorld);

async function daemon(data: string): Promise<RunningProxy> {
  const proxy = await startProxy({ config: configFrom(yaml(), ENV), dataDir: data, port: 0 });
  proxies.push(proxy);
  return proxy;
}

/** One admin call over the socket, as any local tool would make it. */
async function call(socketPath: string, method: string, path: string, body?: string) {
  const client = new Client("http://tokenpak", { socketPath });
  try {
    const res = await client.request({
      method: method as "GET",
      path,
      ...(body !== undefined ? { body } : {}),
    });
    return { status: res.statusCode, json: (await res.body.json()) as Parsed };
  } finally {
    await client.close();
  }
}

/** A process that stays alive (its pid holds a lock file) until killed. */
function sleeper(script = "setInterval(() => {}, 1000)", args: string[] = []): ChildProcess {
  const child = spawn(process.execPath, ["-e", script, ...args], { stdio: "ignore" });
  children.push(child);
  return child;
}

describe("the control channel", () => {
  it("is a socket of mode 0600 in the data directory, speaking the admin API's JSON", async () => {
    const w = await workspace();
    const proxy = await daemon(w.data);
    const path = join(w.data, "tokenpak.sock");
    expect(proxy.controlSocket).toBe(path);
    const stat = lstatSync(path);
    expect(stat.isSocket()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o600);

    const status = await call(path, "GET", "/admin/status");
    expect(status).toMatchObject({ status: 200, json: { ok: true, pid: process.pid, data_dir: w.data } });

    // Bodies are checked against the operation's schema, the field named.
    const batch = (adjustment: Record<string, unknown>) =>
      JSON.stringify({ provider: "openai", source: "test", drift: [], adjustments: [adjustment] });
    const good = {
      identity: { user: "alice" },
      cost: 5,
      tokens: 0,
      at: new Date().toISOString(),
      reconcile: { day: D2, model: "gpt-4o", delta: 5, provider_cost: 5, ledger_cost: 0 },
    };
    const fractional = await call(path, "POST", "/admin/adjustments", batch({ ...good, cost: 1.5 }));
    expect(fractional.status).toBe(400);
    expect(fractional.json.error).toMatchObject({
      code: "invalid_request",
      message: "body.adjustments.0.cost must be integer",
      field: "body.adjustments.0.cost",
    });
    const extra = await call(
      path,
      "POST",
      "/admin/adjustments",
      batch({ ...good, identity: { user: "a", admin: true } }),
    );
    expect(extra.json.error.message).toBe("body.adjustments.0.identity has an unknown field admin");
    const broken = await call(path, "POST", "/admin/adjustments", "{not json");
    expect(broken).toMatchObject({ status: 400, json: { error: { message: "the body is not JSON" } } });
    expect((await call(path, "GET", "/admin/nothing")).status).toBe(404);
    expect(journalEntries(w.data).filter((e) => e.type === "adjust")).toEqual([]);

    // A good batch is written by the daemon, into the ledger it holds.
    const ok = await call(path, "POST", "/admin/adjustments", batch(good));
    expect(ok).toMatchObject({ status: 200, json: { written: 1, cost: 5, alerted: [] } });
    expect(proxy.ledger.usage("user:alice", TOTAL).spent).toBe(5);

    await proxy.close();
    expect(existsSync(path)).toBe(false);
  });

  it("a socket left by a crashed daemon neither blocks a new start nor fools a command", async () => {
    const w = await workspace();
    const path = join(w.data, "tokenpak.sock");
    await daemon(w.data).then((p) => p.close()); // creates the data directory
    // A process that listens on the path and dies by SIGKILL leaves the socket file behind.
    const crashed = sleeper(
      "require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))",
      [path],
    );
    await new Promise((resolve) => crashed.once("exit", resolve));
    expect(lstatSync(path).isSocket()).toBe(true);
    // No daemon: a command finds nobody listening and writes itself, under the ledger lock.
    const session = await openAdminSession({ config: configFrom(yaml(), ENV), dataDir: w.data });
    expect(session.via).toBe("direct");
    await session.close();
    // A new daemon replaces the dead socket and answers on it.
    await daemon(w.data);
    expect((await call(path, "GET", "/admin/status")).json.pid).toBe(process.pid);
  });

  it("a second daemon on the same data directory still refuses, and the first keeps its socket", async () => {
    const w = await workspace();
    await daemon(w.data);
    const second = await tokenpak(["proxy", "--port", "0", "--config", w.config, "--data-dir", w.data]);
    expect(second.code).toBe(4);
    expect(second.stderr).toMatch(/is in use by tokenpak \(pid \d+\)/);
    expect((await call(join(w.data, "tokenpak.sock"), "GET", "/admin/status")).status).toBe(200);
  });

  it("a ledger held by another process without a control socket is ledger_locked for a command", async () => {
    const w = await workspace();
    await daemon(w.data).then((p) => p.close());
    const holder = sleeper();
    writeFileSync(join(w.data, "tokenpak.lock"), `${holder.pid}\n`);
    await expect(
      openAdminSession({ config: configFrom(yaml(), ENV), dataDir: w.data }),
    ).rejects.toMatchObject({
      code: "ledger_locked",
    });
    admin.spend.push(bill(D2, "gpt-4o-2024-08-06", "proj_tokenpak", 5_000_000));
    const run = await reconcile(w, []);
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/in use by tokenpak \(pid \d+\)/);
  });

  it("a control socket that accepts but never answers: the command says so and writes nothing", async () => {
    const w = await workspace();
    await daemon(w.data).then((p) => p.close());
    const stuck = createServer(() => {}); // takes the connection, never answers
    await new Promise<void>((resolve) => stuck.listen(join(w.data, "tokenpak.sock"), resolve));
    try {
      admin.spend.push(bill(D2, "gpt-4o-2024-08-06", "proj_tokenpak", 5_000_000));
      const run = await reconcile(w, []);
      expect(run.code).toBe(4);
      expect(run.stderr).toMatch(/control socket .*tokenpak\.sock does not answer .*is the proxy stuck\?/);
      expect(adjustments(w)).toEqual([]);
    } finally {
      stuck.close();
    }
  });

  it("two reconcile runs for one provider never overlap: the second is refused while the first holds its lock", async () => {
    const w = await workspace();
    await daemon(w.data).then((p) => p.close());
    const other = sleeper();
    writeFileSync(join(w.data, "reconcile-openai.lock"), `${other.pid}\n`);
    const run = await reconcile(w, []);
    expect(run.code).toBe(4);
    expect(run.stderr).toContain(
      `another reconcile-spend --provider openai is running on ${w.data} (pid ${other.pid})`,
    );
    expect(admin.requests).toEqual([]); // refused before asking the provider anything
    // A dry run only reads: it may run beside another.
    expect((await reconcile(w, ["--dry-run"])).code).toBe(0);
  });

  it("runs for two providers at the same minute both complete, without a daemon too", async () => {
    const w = await workspace();
    await spendOn(w, D2, [{ key: "tp-alice-key-0001", model: "gpt-4o", n: 1 }]);
    admin.spend.push(bill(D2, "gpt-4o-2024-08-06", "proj_tokenpak", 9_000_000));
    // anthropic's run holds its own lock and, for its write, the ledger's
    const other = sleeper();
    writeFileSync(join(w.data, "reconcile-anthropic.lock"), `${other.pid}\n`);
    writeFileSync(join(w.data, "tokenpak.lock"), `${other.pid}\n`);
    const letGo = setTimeout(() => other.kill("SIGKILL"), 700);
    try {
      const run = await reconcile(w, ["--json"]);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(12); // waited for the ledger, then wrote
      expect(run.json()).toMatchObject({ via: "direct", adjustments_written: 1 });
      expect(adjustments(w).reduce((s, a) => s + a.cost, 0)).toBe(
        9_000_000 - (settled(w, "openai").get(`${D2}|gpt-4o`)?.cost ?? 0),
      );
    } finally {
      clearTimeout(letGo);
    }
  });
});

describe("reconcile-spend while the proxy serves", () => {
  it("hands its corrections to the daemon during 120 concurrent requests: nothing lost on either side", async () => {
    const w = await workspace();
    // Last week's traffic, then the bill for it: 30% more than the ledger recorded.
    await spendOn(w, D2, [
      { key: "tp-alice-key-0001", model: "gpt-4o", n: 3 },
      { key: "tp-bob-key-000001", model: "gpt-4o", n: 2 },
    ]);
    const before = settled(w, "openai").get(`${D2}|gpt-4o`)?.cost ?? 0;
    admin.spend.push(bill(D2, "gpt-4o-2024-08-06", "proj_tokenpak", Math.round(before * 1.3)));
    const seeded = settleEntries(w.data).length;

    const proxy = await daemon(w.data);
    // Every request stays in flight a while: long enough that the whole burst is in flight at once even
    // on a loaded machine, where sending 120 requests can itself take most of a second.
    upstream.options.latencyMs = 2000;
    const keys = ["tp-alice-key-0001", "tp-bob-key-000001", "tp-carol-key-0001"];
    const finished: number[] = [];
    const burst = Array.from({ length: 120 }, async (_, i) => {
      const res = await fetch(`${proxy.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${keys[i % 3]}`, "content-type": "application/json" },
        body: JSON.stringify({
          model: i % 2 ? "gpt-4o" : "gpt-4o-mini",
          messages: [{ role: "user", content: `n${i}` }],
        }),
      });
      const body = (await res.json()) as Parsed;
      finished.push(Date.now());
      return {
        status: res.status,
        id: res.headers.get("x-tokenpak-request-id"),
        cents: body.cost_cents as number,
      };
    });
    // Wait until the burst is in flight, then reconcile through the daemon.
    const deadline = Date.now() + 10_000;
    while (proxy.ledger.openReservations < 100 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    const inFlight = proxy.ledger.openReservations;
    const started = Date.now();
    const run = await reconcile(w, ["--json"]);
    const ended = Date.now();
    const answers = await Promise.all(burst);

    expect(inFlight).toBeGreaterThanOrEqual(100);
    const out = run.json();
    expect(out).toMatchObject({ via: "daemon", daemon_pid: process.pid, drift_days: [D2], exit_code: 12 });
    expect(run.code).toBe(12);
    // The daemon never stopped serving: every request answered, most of them after the reconcile began.
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(finished.filter((t) => t >= started).length).toBeGreaterThan(100);
    expect(ended - started).toBeLessThan(5000);

    // The journal holds every settle of the burst, at the cost each client was told, and every correction.
    const settles = settleEntries(w.data);
    expect(settles).toHaveLength(seeded + 120);
    const byId = new Map(settles.map((e) => [e.request_id, e.cost]));
    for (const a of answers) expect(byId.get(a.id ?? "")).toBe(Math.round(a.cents * 1_000_000));
    const corrections = adjustments(w);
    expect(corrections).toHaveLength(out.adjustments_written);
    expect(corrections.reduce((s, a) => s + a.cost, 0)).toBe(out.totals.written);
    expect(out.totals.written).toBe(Math.round(before * 1.3) - before);

    // The daemon's counters agree with its journal: settled spend plus corrections, to the µ¢.
    const journalTotal = [...settles, ...corrections].reduce((s, e) => s + e.cost, 0);
    expect(proxy.ledger.usage("workspace", TOTAL).spent).toBe(journalTotal);
    await proxy.close(); // writes the alerts still queued
    proxies.length = 0;
    const { ledger } = await Ledger.open({ dir: w.data, policy: compilePolicy(configFrom(yaml(), ENV)) });
    expect(ledger.usage("workspace", TOTAL).spent).toBe(journalTotal);
    await ledger.close();

    // The daemon raised the drift alert, once.
    expect(readAlerts(w.data).filter((a) => a.includes("ALERT reconcile_drift"))).toHaveLength(1);

    // Through the daemon or not, the effect is the same entries: a rerun without it writes nothing.
    const again = await reconcile(w, ["--json"]);
    expect(again.json()).toMatchObject({ via: "direct", adjustments_written: 0, exit_code: 0 });
  });

  it("adjustments through the daemon go the normal alert path; an exhausted budget refuses and says it was corrected", async () => {
    const w = await workspace();
    const tight = yaml().replace("bot: { team: blue }", "bot: { team: blue, monthly_limit_cents: 60 }");
    writeFileSync(w.config, tight);
    const proxy = await startProxy({ config: configFrom(tight, ENV), dataDir: w.data, port: 0 });
    proxies.push(proxy);
    const ask = () =>
      fetch(`${proxy.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: "Bearer tp-alice-key-0001", "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hello" }] }),
      });
    expect((await ask()).status).toBe(200);
    const today = new Date().toISOString().slice(0, 10);
    const before = settled(w, "openai").get(`${today}|gpt-4o-mini`)?.cost ?? 0;
    // The bill says bot spent 70¢ today: past its 60¢ month. (Today is provisional: raised, never lowered.)
    admin.spend.push(bill(today, "gpt-4o-mini", "proj_tokenpak", 70_000_000));
    const run = await reconcile(w, ["--include-today", "--json"]);
    expect(run.json()).toMatchObject({ via: "daemon", drift_days: [] });
    expect(run.json().totals.written).toBe(70_000_000 - before);
    await proxy.alerts.settled();
    // The correction crossed bot's thresholds and exhausted it: the alerts a request would have raised.
    const alerts = readAlerts(w.data).map((a) =>
      /ALERT (\S+) project=bot .*monthly_limit=\$0\.60 .*threshold=(\d+)%/.exec(a)?.slice(1).join("@"),
    );
    expect(alerts).toEqual([
      "budget_threshold_exceeded@80",
      "budget_threshold_exceeded@100",
      "budget_exhausted@100",
    ]);
    const res = await ask();
    expect(res.status).toBe(402);
    const body = (await res.json()) as Parsed;
    expect(body.error.scope).toBe("project:bot");
    expect(body.error.message).toBe(
      "Project bot has reached monthly budget limit ($0.60). Rejecting request. The monthly spend includes " +
        `${formatUsd(70_000_000 - before)} added by reconcile-spend to match the provider's bill.`,
    );
    expect(body.error.corrected_cents).toBe((70_000_000 - before) / 1_000_000);
  });

  it("the CLI as a subprocess, through the daemon's socket", async () => {
    const w = await workspace();
    await spendOn(w, D2, [{ key: "tp-bob-key-000001", model: "gpt-4o", n: 2 }]);
    const before = settled(w, "openai").get(`${D2}|gpt-4o`)?.cost ?? 0;
    await daemon(w.data);
    admin.spend.push(bill(D2, "gpt-4o-2024-08-06", "proj_tokenpak", before + 2_000_000));
    const { code, stdout, stderr } = await tokenpak([
      "reconcile-spend",
      "--provider",
      "openai",
      "--config",
      w.config,
      "--data-dir",
      w.data,
    ]);
    expect({ code, stderr }).toMatchObject({
      code: 12,
      stderr: expect.stringContaining("drifted beyond ±5%"),
    });
    expect(stdout).toMatch(new RegExp(`${D2}  gpt-4o .*\\+\\$0\\.02 `));
    expect(stderr).toMatch(/wrote 1 correction \(\+\$0\.02\) through the running proxy \(pid \d+\)/);
    expect(adjustments(w).reduce((s, a) => s + a.cost, 0)).toBe(2_000_000);
  });
});

/** `node bin/tokenpak.js …args` in a subprocess, as a user runs it. */
async function tokenpak(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, NO_COLOR: "1", ...ENV },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { code, stdout, stderr };
}

function readAlerts(data: string): string[] {
  const path = join(data, "alerts.log");
  return existsSync(path) ? readFileSync(path, "utf8").split("\n").filter(Boolean) : [];
}
