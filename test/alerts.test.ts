// Budget alerts end to end: the real daemon (startProxy on port 0) against the
// fake upstream, alerts posted to a real HTTP receiver and a real SMTP server.
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SMTPServer } from "smtp-server";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { readOutbox } from "../src/alerts/outbox.js";
import { centsToMicros } from "../src/money/money.js";
import { type RunningProxy, startProxy } from "../src/server/serve.js";
import { type AlertReceiver, startAlertReceiver } from "./helpers/alert-receiver.js";
import { type FakeUpstream, startFakeUpstream } from "./helpers/fake-upstream.js";
import type { Parsed } from "./helpers/json.js";
import { configFrom } from "./helpers/policy.js";

const SECRET = "whsec-test-0123456789";
const DAY = 86_400_000;
let fake: FakeUpstream;
let receiver: AlertReceiver;

beforeAll(async () => {
  // 100 output tokens at 10¢ per 1k, input free: every request costs exactly 1¢.
  fake = await startFakeUpstream({ replyTokens: 100 });
  receiver = await startAlertReceiver();
});
afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close();
  receiver.deliveries.length = 0;
  receiver.answer = () => 200;
  clockNow = START;
});
afterAll(async () => {
  await receiver.close();
  await fake.close();
});

interface Options {
  budget?: string;
  alerts?: string;
  targets?: string[];
  aliceCents?: number;
  maxAttempts?: number;
}

function yaml(o: Options = {}): string {
  const targets = o.targets ?? [`${receiver.url}/hook`];
  return `
budget:
  alert_thresholds_pct: [50, 80, 100]
  alert_webhook: ${JSON.stringify(targets)}
  per_user_limits:
    enabled: true
    user_limits:
      alice: { daily_limit_cents: ${o.aliceCents ?? 10} }
${o.budget ?? ""}
providers:
  openai: { type: openai, api_key: sk-upstream, base_url: "${fake.url}/v1" }
models:
  m: { provider: openai, estimated_input_cost_per_1k: 0, estimated_output_cost_per_1k: 10, max_output_tokens: 200 }
  cheap: { provider: openai, estimated_input_cost_per_1k: 0, estimated_output_cost_per_1k: 1, max_output_tokens: 200 }
alerts:
  webhook_secret: ${SECRET}
  timeout_ms: 2000
  retry: { initial_delay_ms: 20, max_delay_ms: 100, max_attempts: ${o.maxAttempts ?? 100} }
${o.alerts ?? ""}`;
}

const proxies: RunningProxy[] = [];
const START = Date.parse("2026-03-25T09:45:00Z");
let clockNow = START;
const clock = () => clockNow;

async function start(o: Options = {}, dataDir?: string): Promise<RunningProxy & { dataDir: string }> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), "tokenpak-alerts-")));
  const proxy = await startProxy({ config: configFrom(yaml(o)), dataDir: dir, port: 0, clock });
  proxies.push(proxy);
  return Object.assign(proxy, { dataDir: dir });
}

async function stop(proxy: RunningProxy): Promise<void> {
  proxies.splice(proxies.indexOf(proxy), 1);
  await proxy.close();
}

async function chat(
  proxy: RunningProxy,
  user = "alice",
  model = "m",
): Promise<{ status: number; body: Parsed }> {
  const res = await fetch(`${proxy.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${user}`, "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
  });
  return { status: res.status, body: (await res.json()) as Parsed };
}

/** Waits until the daemon has nothing left to deliver. */
async function delivered(proxy: RunningProxy): Promise<void> {
  await proxy.alerts.settled();
}

const events = () => receiver.deliveries.map((d) => `${d.body.event}@${d.body.threshold_pct}`);
const logOf = (dir: string) => readFileSync(join(dir, "alerts.log"), "utf8");

describe("alerts: thresholds fire once per window instance", () => {
  it("50, 80 and 100% each fire exactly once while spend climbs; the hard stop once, not on every 402", async () => {
    const proxy = await start();
    const seen: string[][] = [];
    for (let i = 1; i <= 12; i++) {
      const { status } = await chat(proxy);
      expect(status, `request ${i}`).toBe(i <= 10 ? 200 : 402);
      await delivered(proxy);
      seen.push(events());
    }
    expect(seen[3]).toEqual([]); // 4¢ of 10¢
    expect(seen[4]).toEqual(["budget_threshold_exceeded@50"]); // 5¢: 50%
    expect(seen[6]).toEqual(["budget_threshold_exceeded@50"]);
    expect(seen[7]).toEqual(["budget_threshold_exceeded@50", "budget_threshold_exceeded@80"]);
    const all = [
      "budget_threshold_exceeded@50",
      "budget_threshold_exceeded@80",
      "budget_threshold_exceeded@100",
      "budget_exhausted@100",
    ];
    expect(seen[9]).toEqual(all); // 10¢: the limit itself and the hard stop
    expect(seen[11]).toEqual(all); // two refusals later: nothing new

    const first = receiver.deliveries[0]?.body;
    expect(first).toMatchObject({
      event: "budget_threshold_exceeded",
      scope: "user:alice",
      window: "daily",
      threshold_pct: 50,
      pct: 50,
      spent_cents: 5,
      limit_cents: 10,
      resets_at: "2026-03-26T00:00:00.000Z",
      at: "2026-03-25T09:45:00.000Z",
      unit: "cents",
    });
    expect(first?.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(receiver.deliveries.map((d) => d.body.id)).size).toBe(4);

    const log = logOf(proxy.dataDir).trim().split("\n");
    expect(log).toHaveLength(4);
    expect(log[0]).toMatch(
      /^2026-03-25T09:45:00Z ALERT budget_threshold_exceeded user=alice spent=\$0\.05 daily_limit=\$0\.10 pct=50% threshold=50% id=[0-9a-f-]{36}$/,
    );
    expect(log[3]).toContain("ALERT budget_exhausted user=alice spent=$0.10 daily_limit=$0.10 pct=100%");
  });

  it("a restart does not fire again; a new day does", async () => {
    const first = await start();
    for (let i = 0; i < 6; i++) expect((await chat(first)).status).toBe(200);
    await delivered(first);
    expect(events()).toEqual(["budget_threshold_exceeded@50"]);
    const id = receiver.deliveries[0]?.body.id;
    await stop(first);

    const again = await start({}, first.dataDir);
    expect((await chat(again)).status).toBe(200); // 7¢: still only past 50%
    await delivered(again);
    expect(events()).toEqual(["budget_threshold_exceeded@50"]);
    await stop(again);

    clockNow += DAY; // the next day: a new window instance
    const nextDay = await start({}, first.dataDir);
    for (let i = 0; i < 5; i++) expect((await chat(nextDay)).status).toBe(200);
    await delivered(nextDay);
    expect(events()).toEqual(["budget_threshold_exceeded@50", "budget_threshold_exceeded@50"]);
    const second = receiver.deliveries[1]?.body;
    expect(second?.id).not.toBe(id);
    expect(second?.resets_at).toBe("2026-03-27T00:00:00.000Z");
    expect(second?.spent_cents).toBe(5);
  });

  it("a ledger adjustment (reconcile-spend) that crosses a threshold fires it", async () => {
    const proxy = await start();
    expect((await chat(proxy)).status).toBe(200);
    await proxy.ledger.adjust({ identity: { user: "alice" }, cost: centsToMicros(7.5), reason: "reconcile" });
    await delivered(proxy);
    expect(events()).toEqual(["budget_threshold_exceeded@50", "budget_threshold_exceeded@80"]);
    expect(receiver.deliveries[1]?.body.spent_cents).toBe(8.5);
  });

  it("a limit lowered in the config fires at start-up what the spend has now crossed", async () => {
    const proxy = await start({ aliceCents: 100 });
    for (let i = 0; i < 6; i++) expect((await chat(proxy)).status).toBe(200);
    await delivered(proxy);
    expect(events()).toEqual([]);
    await stop(proxy);
    const lowered = await start({ aliceCents: 7 }, proxy.dataDir);
    await delivered(lowered);
    expect(events()).toEqual(["budget_threshold_exceeded@50", "budget_threshold_exceeded@80"]);
    expect(receiver.deliveries[1]?.body).toMatchObject({ pct: 85.7, spent_cents: 6, limit_cents: 7 });
  });
});

describe("alerts: the other events", () => {
  it("fallback_engaged once when the fallback model takes over", async () => {
    const proxy = await start({
      aliceCents: 1000,
      budget: "  fallback_model_on_exceed: cheap\n  model_limits: { m: { daily_limit_cents: 5 } }",
    });
    for (let i = 0; i < 8; i++) expect((await chat(proxy)).status).toBe(200);
    await delivered(proxy);
    const fallback = receiver.deliveries.filter((d) => d.body.event === "fallback_engaged");
    expect(fallback).toHaveLength(1);
    expect(fallback[0]?.body).toMatchObject({
      scope: "model:m",
      window: "daily",
      model: "m",
      fallback_model: "cheap",
      spent_cents: 5,
      limit_cents: 5,
    });
    expect(fallback[0]?.body.text).toContain("served on cheap");
  });

  it("an alert for a rolling window says when it frees up (resets_at is not null)", async () => {
    const proxy = await start({
      aliceCents: 1000,
      budget: "  rolling_limits:\n    - { window: 1h, limit_cents: 4 }",
    });
    for (let i = 0; i < 2; i++) expect((await chat(proxy)).status).toBe(200);
    await delivered(proxy);
    const rolling = receiver.deliveries.find((d) => d.body.window === "1h")?.body;
    expect(rolling).toMatchObject({
      event: "budget_threshold_exceeded",
      scope: "workspace",
      threshold_pct: 50,
    });
    // 1h in 60 buckets of a minute: spend at START stops counting when its bucket has left the hour.
    expect(rolling?.resets_at).toBe(new Date(START + 60_000 + 3_600_000).toISOString());
  });

  it("soft_limit_overrun once in soft mode (served past the cap)", async () => {
    const proxy = await start({ budget: "  reject_on_exceed: false" });
    for (let i = 0; i < 14; i++) expect((await chat(proxy)).status).toBe(200);
    await delivered(proxy);
    expect(events().filter((e) => !e.startsWith("budget_threshold_exceeded"))).toEqual([
      "soft_limit_overrun@100",
    ]);
    expect(events()).toContain("budget_threshold_exceeded@100");
  });

  it("hooks for other features: raise() sends reconcile_drift and pricing_stale", async () => {
    const proxy = await start();
    proxy.alerts.raise({ event: "pricing_stale", message: "prices are 30 hours old" });
    await delivered(proxy);
    expect(receiver.deliveries[0]?.body).toMatchObject({
      event: "pricing_stale",
      scope: "workspace",
      message: "prices are 30 hours old",
      text: "tokenpak: prices are 30 hours old",
    });
  });
});

describe("alerts: webhooks", () => {
  it("signs the raw body with HMAC-SHA256 (X-TokenPak-Signature: sha256=<hex>); the body is a Slack message", async () => {
    // As Slack's incoming webhooks do: 400 invalid_payload unless a JSON object with a non-empty string `text`.
    receiver.answer = (body) => (typeof body.text === "string" && body.text.length > 0 ? 200 : 400);
    const proxy = await start();
    for (let i = 0; i < 5; i++) await chat(proxy);
    await delivered(proxy);
    const [d] = await receiver.accepted(1);
    expect(receiver.deliveries.map((x) => x.answered)).toEqual([200]);
    const expected = `sha256=${createHmac("sha256", SECRET)
      .update(d?.raw ?? "")
      .digest("hex")}`;
    expect(d?.headers["x-tokenpak-signature"]).toBe(expected);
    const wrong = `sha256=${createHmac("sha256", "not-the-secret")
      .update(d?.raw ?? "")
      .digest("hex")}`;
    expect(d?.headers["x-tokenpak-signature"]).not.toBe(wrong);
    expect(d?.headers["content-type"]).toBe("application/json");
    expect(d?.headers["x-tokenpak-alert-id"]).toBe(d?.body.id);
    // What a Slack incoming webhook requires: a JSON object with a non-empty string `text`.
    expect(typeof d?.body.text).toBe("string");
    expect(d?.body.text).toBe(
      "tokenpak: User alice has used 50% of its daily budget ($0.05 of $0.10). It resets at 2026-03-26T00:00:00.000Z.",
    );
    expect(Object.keys(d?.body ?? {}).sort()).toEqual(
      [
        "id",
        "event",
        "scope",
        "window",
        "threshold_pct",
        "pct",
        "spent_cents",
        "limit_cents",
        "resets_at",
        "at",
        "text",
        "unit",
      ].sort(),
    );
  });

  it("retries a failing receiver with the same id until it recovers, across a restart", async () => {
    let failures = 0;
    receiver.answer = () => (failures++ < 3 ? 500 : 200);
    const proxy = await start();
    for (let i = 0; i < 5; i++) await chat(proxy);
    while (receiver.deliveries.length < 2) await new Promise((r) => setTimeout(r, 5));
    await stop(proxy); // two attempts failed; the alert is still owed
    expect(receiver.deliveries.every((d) => d.answered === 500)).toBe(true);

    const restarted = await start({}, proxy.dataDir);
    const [ok] = (await receiver.accepted(1)).slice(-1);
    await delivered(restarted);
    const ids = new Set(receiver.deliveries.map((d) => d.body.id));
    expect(ids.size).toBe(1);
    expect(ok?.body.id).toBe(receiver.deliveries[0]?.body.id);
    expect(receiver.deliveries.map((d) => d.answered)).toEqual([500, 500, 500, 200]);
    // Numbered 1, 2, 3, 4 — or with one number twice, when an attempt was cut off by the stop unrecorded.
    const numbers = receiver.deliveries.map((d) => Number(d.headers["x-tokenpak-attempt"]));
    expect(numbers[0]).toBe(1);
    for (const [i, n] of numbers.entries()) if (i > 0) expect(n - (numbers[i - 1] ?? 0)).toBeOneOf([0, 1]);
    // Identical bytes on every attempt.
    expect(new Set(receiver.deliveries.map((d) => d.raw)).size).toBe(1);
    const [record] = readOutbox(join(proxy.dataDir, "alerts-outbox.jsonl"));
    expect(record?.targets[0]).toMatchObject({ state: "delivered", attempts: numbers.at(-1) });
  });

  it("dead-letters after the last attempt: an outbox record and a DEAD log line", async () => {
    receiver.answer = () => 503;
    const proxy = await start({ maxAttempts: 3 });
    for (let i = 0; i < 5; i++) await chat(proxy);
    await delivered(proxy);
    expect(receiver.deliveries.map((d) => d.answered)).toEqual([503, 503, 503]);
    const log = logOf(proxy.dataDir);
    expect(log).toMatch(
      /Z DEAD budget_threshold_exceeded user=alice target=http:\/\/127\.0\.0\.1:\d+\/… attempts=3 reason="HTTP 503" id=/,
    );
    expect(log).not.toContain("/hook"); // the path of a webhook URL may be its secret
    const [record] = readOutbox(join(proxy.dataDir, "alerts-outbox.jsonl"));
    expect(record?.targets[0]).toMatchObject({ state: "dead", attempts: 3, last_error: "HTTP 503" });
  });

  it("a hanging receiver delays no request, and does not hold up a healthy second target", async () => {
    const hanging = await startAlertReceiver();
    hanging.answer = () => "hang";
    try {
      const proxy = await start({ targets: [`${hanging.url}/slow`, `${receiver.url}/fast`] });
      const times: number[] = [];
      for (let i = 0; i < 10; i++) {
        const began = performance.now();
        expect((await chat(proxy)).status).toBe(200);
        times.push(performance.now() - began);
      }
      await receiver.accepted(4);
      expect(hanging.deliveries.length).toBeGreaterThan(0); // it was tried, and is hanging
      // The receiver hangs for the whole 2 s timeout; no request waited for it.
      expect(Math.max(...times)).toBeLessThan(500);
    } finally {
      await hanging.close();
    }
  });
});

describe("alerts: email", () => {
  it("mailto: targets go through alerts.smtp to a real SMTP server", async () => {
    const mails: { from: string; to: string[]; user: string; data: string }[] = [];
    const smtp = new SMTPServer({
      authOptional: false,
      allowInsecureAuth: true,
      disabledCommands: ["STARTTLS"],
      logger: false,
      onAuth(auth, _session, callback) {
        if (auth.username === "tokenpak" && auth.password === "smtp-pass")
          callback(null, { user: auth.username });
        else callback(new Error("bad credentials"));
      },
      onData(stream, session, callback) {
        let data = "";
        stream.setEncoding("utf8");
        stream.on("data", (chunk: string) => {
          data += chunk;
        });
        stream.on("end", () => {
          mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
            to: session.envelope.rcptTo.map((r) => r.address),
            user: String(session.user),
            data,
          });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", resolve));
    const port = (smtp.server.address() as { port: number }).port;
    try {
      const proxy = await start({
        targets: ["mailto:ops@example.com"],
        alerts: `  smtp: { host: 127.0.0.1, port: ${port}, user: tokenpak, password: smtp-pass, from: budgets@example.com }`,
      });
      for (let i = 0; i < 5; i++) await chat(proxy);
      await delivered(proxy);
      expect(mails).toHaveLength(1);
      const mail = mails[0];
      expect(mail?.to).toEqual(["ops@example.com"]);
      expect(mail?.from).toBe("budgets@example.com");
      expect(mail?.user).toBe("tokenpak");
      expect(mail?.data).toMatch(
        /^Subject: \[tokenpak\] budget_threshold_exceeded: user=alice daily at 50%$/m,
      );
      const [record] = readOutbox(join(proxy.dataDir, "alerts-outbox.jsonl"));
      expect(mail?.data).toMatch(new RegExp(`^X-TokenPak-Alert-Id: ${record?.alert.id}$`, "im"));
      expect(mail?.data).toContain(`Message-ID: <${record?.alert.id}@tokenpak>`);
      expect(mail?.data).toContain("User alice has used 50% of its daily budget ($0.05 of $0.10)");
      expect(record?.targets[0]).toMatchObject({
        kind: "email",
        label: "mailto:ops@example.com",
        state: "delivered",
      });
    } finally {
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
    }
  });

  it("without alerts.smtp, a mailto: alert goes to the log with the reason", async () => {
    const proxy = await start({ targets: ["mailto:ops@example.com"] });
    for (let i = 0; i < 5; i++) await chat(proxy);
    await delivered(proxy);
    const log = logOf(proxy.dataDir).trim().split("\n");
    expect(log[0]).toContain("ALERT budget_threshold_exceeded user=alice");
    expect(log[1]).toMatch(
      /Z UNSENT budget_threshold_exceeded user=alice target=mailto:ops@example\.com attempts=0 reason="alerts\.smtp is not configured" id=/,
    );
    const [record] = readOutbox(join(proxy.dataDir, "alerts-outbox.jsonl"));
    expect(record?.targets[0]).toMatchObject({
      state: "unsent",
      last_error: "alerts.smtp is not configured",
    });
  });
});
