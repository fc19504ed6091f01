// `tokenpak alerts test|list` and the daemon's alerts across kill -9, driven
// as a user runs them: the built CLI (bin/tokenpak.js → dist/) in a subprocess.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type AlertReceiver, startAlertReceiver } from "./helpers/alert-receiver.js";
import { type FakeUpstream, startFakeUpstream } from "./helpers/fake-upstream.js";
import type { Parsed } from "./helpers/json.js";

const BIN = join(fileURLToPath(new URL("..", import.meta.url)), "bin", "tokenpak.js");
const SECRET = "whsec-cli-test-secret";

let fake: FakeUpstream;
let receiver: AlertReceiver;
let scratch: string;
const running = new Set<ChildProcess>();

beforeAll(async () => {
  fake = await startFakeUpstream({ replyTokens: 100 });
  receiver = await startAlertReceiver();
  scratch = mkdtempSync(join(tmpdir(), "tokenpak-alerts-cli-"));
});
afterEach(() => {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
  receiver.deliveries.length = 0;
  receiver.answer = () => 200;
});
afterAll(async () => {
  await receiver.close();
  await fake.close();
  rmSync(scratch, { recursive: true, force: true });
});

let dirs = 0;
/** A directory with tokenpak.yaml (data/ beside it): alice may spend 10¢ a day, 1¢ per request. */
function workspace(targets: string[], alerts = ""): { dir: string; data: string } {
  const dir = join(scratch, `w${++dirs}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "tokenpak.yaml"),
    `
budget:
  alert_thresholds_pct: [50, 80, 100]
  alert_webhook: ${JSON.stringify(targets)}
  per_user_limits: { enabled: true, user_limits: { alice: { daily_limit_cents: 10 } } }
providers:
  openai: { type: openai, api_key: sk-upstream, base_url: "${fake.url}/v1" }
models:
  m: { provider: openai, estimated_input_cost_per_1k: 0, estimated_output_cost_per_1k: 10, max_output_tokens: 200 }
storage: { path: data }
alerts:
  webhook_secret: ${SECRET}
  timeout_ms: 2000
  retry: { initial_delay_ms: 50, max_delay_ms: 200, max_attempts: 100 }
${alerts}`,
  );
  return { dir, data: join(dir, "data") };
}

const env = () => ({ PATH: process.env.PATH ?? "", HOME: scratch, NO_COLOR: "1" });

function tokenpak(
  args: readonly string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd, env: env(), encoding: "utf8", timeout: 15_000 },
      (e, stdout, stderr) => {
        if (e && typeof e.code !== "number") reject(e);
        else resolve({ code: typeof e?.code === "number" ? e.code : 0, stdout, stderr });
      },
    );
  });
}

/** Starts `tokenpak proxy --port 0` in `cwd`; resolves with its URL once it prints its start line. */
function daemon(cwd: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, "proxy", "--port", "0"], {
    cwd,
    env: env(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  child.on("exit", () => running.delete(child));
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  return new Promise((resolve, reject) => {
    child.stdout?.once("data", (d: Buffer) => {
      const url = /http:\/\/\S+/.exec(d.toString())?.[0];
      if (url) resolve({ child, url });
      else reject(new Error(`no URL in ${d.toString()}`));
    });
    child.once("exit", (code) => reject(new Error(`proxy exited (${code}): ${err}`)));
  });
}

async function kill9(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

async function chat(url: string): Promise<number> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: "Bearer alice", "content-type": "application/json" },
    body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] }),
  });
  await res.text();
  return res.status;
}

describe("tokenpak alerts test", () => {
  it("sends a signed test alert to every channel and reports each; exit 0 when all took it", async () => {
    const w = workspace([`${receiver.url}/hook`]);
    const run = await tokenpak(["alerts", "test"], w.dir);
    expect(run.code, run.stderr).toBe(0);
    const out = run.stdout.trim().split("\n");
    expect(out[0]).toMatch(/^✓ log {6}\S+\/data\/alerts\.log {2}\(\d+ ms\)$/);
    expect(out[1]).toMatch(/^✓ webhook {2}http:\/\/127\.0\.0\.1:\d+\/… {2}\(\d+ ms\)$/);
    expect(out[2]).toMatch(/^✓ test alert [0-9a-f-]{36} reached all 2 channels$/);
    const [d] = receiver.deliveries;
    expect(d?.body).toMatchObject({ event: "test", scope: "workspace" });
    expect(d?.headers["x-tokenpak-signature"]).toBe(
      `sha256=${createHmac("sha256", SECRET)
        .update(d?.raw ?? "")
        .digest("hex")}`,
    );
    expect(readFileSync(join(w.data, "alerts.log"), "utf8")).toContain(`ALERT test workspace`);
  });

  it("exit 8 when a channel fails; --json names each result without the webhook's path", async () => {
    receiver.answer = () => 500;
    const w = workspace([`${receiver.url}/hook/T000/secret-token`, "mailto:ops@example.com"]);
    const run = await tokenpak(["alerts", "test", "--json"], w.dir);
    expect(run.code).toBe(8);
    const out = JSON.parse(run.stdout) as Parsed;
    expect(out.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(out.results.map((r: Parsed) => [r.channel, r.ok, r.error])).toEqual([
      ["log", true, undefined],
      ["webhook", false, "HTTP 500"],
      ["email", false, "alerts.smtp is not configured"],
    ]);
    expect(run.stdout).not.toContain("secret-token");
    expect(run.stdout).not.toContain(SECRET);
  });
});

describe("the daemon's alerts across kill -9", () => {
  it("the receiver fails, the daemon is killed and restarted, the receiver recovers: the alert arrives, one id on every attempt", async () => {
    receiver.answer = () => 500;
    const w = workspace([`${receiver.url}/hook`]);
    const first = await daemon(w.dir);
    for (let i = 0; i < 5; i++) expect(await chat(first.url)).toBe(200); // 50%
    while (receiver.deliveries.length < 2) await new Promise((r) => setTimeout(r, 10));
    await kill9(first.child);

    receiver.answer = () => 200;
    const second = await daemon(w.dir);
    const [ok] = await receiver.accepted(1);
    const ids = new Set(receiver.deliveries.map((d) => d.body.id));
    expect(ids).toEqual(new Set([ok?.body.id]));
    expect(receiver.deliveries.length).toBeGreaterThanOrEqual(3);
    expect(receiver.deliveries.every((d) => d.body.threshold_pct === 50)).toBe(true);

    // Nothing fires twice: more spend crosses only the next threshold.
    for (let i = 0; i < 3; i++) expect(await chat(second.url)).toBe(200); // 80%
    const accepted = await receiver.accepted(2);
    expect(accepted.map((d) => d.body.threshold_pct)).toEqual([50, 80]);

    const list = await tokenpak(["alerts", "list", "--json"], w.dir);
    expect(list.code, list.stderr).toBe(0);
    const alerts = (JSON.parse(list.stdout) as Parsed).alerts as Parsed[];
    expect(alerts.map((a) => [a.event, a.threshold_pct, a.targets[0].state])).toEqual([
      ["budget_threshold_exceeded", 50, "delivered"],
      ["budget_threshold_exceeded", 80, "delivered"],
    ]);
    expect(alerts[0]?.id).toBe(ok?.body.id);
    // Every attempt the receiver saw is recorded, but for one the kill may have cut off unrecorded.
    const seen = receiver.deliveries.filter((d) => d.body.id === ok?.body.id).length;
    expect(alerts[0]?.targets[0].attempts).toBeOneOf([seen, seen - 1]);

    const text = await tokenpak(["alerts", "list", "--since", "1d"], w.dir);
    expect(text.stdout).toMatch(
      /ALERT budget_threshold_exceeded user=alice spent=\$0\.05 daily_limit=\$0\.10 pct=50%/,
    );
    expect(text.stdout).toMatch(/^ {4}delivered {2}http:\/\/127\.0\.0\.1:\d+\/… {2}after \d+ attempts$/m);
    second.child.kill("SIGTERM");
  }, 30_000);

  it("killed right after the crossing request was answered: after a restart the alert is there exactly once", async () => {
    const w = workspace([`${receiver.url}/hook`]);
    const first = await daemon(w.dir);
    for (let i = 0; i < 5; i++) expect(await chat(first.url)).toBe(200);
    await kill9(first.child); // before or after the alert reached the outbox: both must end in one alert
    const second = await daemon(w.dir);
    await receiver.accepted(1);
    await new Promise((r) => setTimeout(r, 300)); // time for a duplicate, were there one
    const ids = new Set(receiver.deliveries.map((d) => d.body.id));
    expect(ids.size).toBe(1);
    expect(receiver.deliveries.every((d) => d.body.threshold_pct === 50)).toBe(true);
    second.child.kill("SIGTERM");
  }, 30_000);
});

describe("tokenpak alerts --help", () => {
  it("explains both commands", async () => {
    const run = await tokenpak(["alerts", "--help"], scratch);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/test +send a test alert to the log and every configured target/);
    expect(run.stdout).toMatch(/list \[options\] +show recent alerts and the delivery state/);
    const list = await tokenpak(["alerts", "list", "--help"], scratch);
    expect(list.stdout).toContain("--since <when>");
    expect(list.stdout).toContain("delivered, pending");
  });

  it("--since that is neither a duration nor a date is exit 1, with the accepted forms", async () => {
    const run = await tokenpak(["alerts", "list", "--since", "yesterday", "--data-dir", scratch], scratch);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("--since must be a duration (30m, 24h, 7d) or a date");
  });
});
