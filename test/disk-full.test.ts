// The disk fills up under load (issue #11, obs. 1): the daemon keeps running,
// refuses with 503 store_unavailable while it cannot journal, loses no
// acknowledged answer, leaves no torn line, resumes by itself once space is
// back, and starts again afterwards. Once with an injected fs error (always),
// once on a real tmpfs that runs full (needs root to mount; skipped, saying
// so, without).
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compilePolicy } from "../src/budget/policy.js";
import { journalFiles } from "../src/ledger/journal.js";
import { Ledger } from "../src/ledger/ledger.js";
import { type ProxyOptions, startProxy } from "../src/server/serve.js";
import { type AlertReceiver, startAlertReceiver } from "./helpers/alert-receiver.js";
import { fillDisk, skipReason, smallDisk } from "./helpers/disk.js";
import { type FakeUpstream, startFakeUpstream } from "./helpers/fake-upstream.js";
import { faultyFs } from "./helpers/faulty-fs.js";
import { settleEntries } from "./helpers/journal.js";
import { configFrom } from "./helpers/policy.js";

let fake: FakeUpstream;
let receiver: AlertReceiver;
beforeAll(async () => {
  fake = await startFakeUpstream({ replyTokens: 30 });
  receiver = await startAlertReceiver();
});
afterAll(async () => {
  await receiver.close();
  await fake.close();
});

const config = () =>
  configFrom(`
budget:
  daily_limit_cents: 10000000
  alert_webhook: "${receiver.url}/hook"
providers:
  openai: { type: openai, api_key: sk-upstream, base_url: "${fake.url}/v1" }
models:
  m: { provider: openai, estimated_input_cost_per_1k: 1, estimated_output_cost_per_1k: 2, max_output_tokens: 100 }
alerts:
  retry: { initial_delay_ms: 20, max_delay_ms: 200, max_attempts: 50 }
`);

type Route = "chat" | "messages";
interface Answer {
  route: Route;
  status: number;
  id: string;
  micros: number;
  /** The refusal's code, read where the route's wire format puts it. */
  code?: string | undefined;
}

async function call(url: string, route: Route, user: string): Promise<Answer> {
  const res = await fetch(`${url}/v1/${route === "chat" ? "chat/completions" : "messages"}`, {
    method: "POST",
    headers: { authorization: `Bearer ${user}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "m", max_tokens: 50, messages: [{ role: "user", content: "hi" }] }),
  });
  const body = (await res.json()) as {
    cost_cents?: number;
    type?: string;
    error?: { code?: string; type?: string };
  };
  const code = route === "messages" && body.type !== "error" ? undefined : body.error?.code;
  return {
    route,
    status: res.status,
    id: res.headers.get("x-tokenpak-request-id") ?? "",
    micros: Math.round((body.cost_cents ?? Number.NaN) * 1e6),
    code,
  };
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Disk {
  dataDir: string;
  fill(): void;
  free(): void;
  ledger?: ProxyOptions["ledger"];
}

async function fillsUpUnderLoad(disk: Disk): Promise<void> {
  receiver.deliveries.length = 0;
  const warnings: string[] = [];
  const start = () =>
    startProxy({
      config: config(),
      dataDir: disk.dataDir,
      port: 0,
      warn: (m) => warnings.push(m),
      ...(disk.ledger ? { ledger: disk.ledger } : {}),
    });
  const proxy = await start();
  const health = async () => (await fetch(`${proxy.url}/healthz`)).status;
  const answers: Answer[] = [];
  let stopped = false;
  const worker = async (w: number) => {
    for (let i = 0; !stopped; i++)
      answers.push(await call(proxy.url, i % 2 ? "messages" : "chat", `user-${w}`));
  };
  const workers = Array.from({ length: 6 }, (_, w) => worker(w));
  const served = () => answers.filter((a) => a.status === 200).length;

  await until(() => served() >= 60, "answers before the disk fills");
  disk.fill();
  await until(() => answers.some((a) => a.status === 503), "a 503 once the disk is full");
  expect(await health()).toBe(503);
  const down = (await (await fetch(`${proxy.url}/healthz`)).json()) as Record<string, unknown>;
  expect(down).toMatchObject({ ok: false, store: { writable: false, error: expect.any(String) } });
  // Every budgeted route refuses before reading the body; what needs no ledger still answers.
  const responses = await fetch(`${proxy.url}/v1/responses`, { method: "POST", body: "{}" });
  expect(responses.status).toBe(503);
  expect(((await responses.json()) as { error: { code: string } }).error.code).toBe("store_unavailable");
  expect(responses.headers.get("retry-after")).toBe("2");
  expect((await fetch(`${proxy.url}/v1/models`)).status).toBe(200);
  const refusedBy = answers.length;
  await until(() => answers.length >= refusedBy + 30, "requests refused while full");
  expect(proxy.ledger.writable).toBe(false);

  disk.free();
  await until(async () => (await health()) === 200, "the service to resume without a restart");
  const resumedAt = answers.length;
  await until(() => answers.slice(resumedAt).filter((a) => a.status === 200).length >= 30, "answers after");
  stopped = true;
  await Promise.all(workers);
  await proxy.alerts.settled();
  await proxy.close();

  // Refusals: 503 store_unavailable, in the route's own format; nothing else went wrong.
  const refused = answers.filter((a) => a.status !== 200);
  expect(refused.length).toBeGreaterThan(0);
  for (const a of refused)
    expect({ status: a.status, code: a.code }).toEqual({ status: 503, code: "store_unavailable" });
  expect(new Set(refused.map((a) => a.route))).toEqual(new Set(["chat", "messages"]));

  // No acknowledged answer is missing: each has its settle line, at the cost the client was told.
  const settled = new Map(settleEntries(disk.dataDir).map((e) => [e.request_id, e.cost]));
  const acknowledged = answers.filter((a) => a.status === 200);
  for (const a of acknowledged) expect(settled.get(a.id), a.id).toBe(a.micros);
  // No torn line anywhere: every line is whole (settleEntries above parsed them all).
  for (const file of journalFiles(join(disk.dataDir, "journal")))
    expect(readFileSync(file, "utf8").endsWith("\n"), file).toBe(true);

  // One clear log line each way, and an alert each way.
  expect(warnings.filter((w) => w.includes("cannot write its journal"))).toHaveLength(1);
  expect(warnings.filter((w) => w.includes("can write its journal again"))).toHaveLength(1);
  const events = receiver.deliveries.map((d) => d.body.event);
  expect(events).toContain("store_unavailable");
  expect(events).toContain("store_recovered");

  // And a restart afterwards succeeds, with nothing left in flight.
  const again = await start();
  expect(again.recovery.recovered).toBe(0);
  expect((await call(again.url, "chat", "after-restart")).status).toBe(200);
  await again.close();
}

describe("the disk fills up mid-load", () => {
  it("obs 1 (injected ENOSPC): 503s while full, nothing acknowledged lost, no torn line, resumes by itself, restarts", async () => {
    const fs = faultyFs();
    await fillsUpUnderLoad({
      dataDir: mkdtempSync(join(tmpdir(), "tokenpak-diskfull-")),
      ledger: { journalIo: fs.io, journalRetryMs: 20 },
      fill: () => {
        fs.room = 700; // a line or so more, then a write tears
      },
      free: () => {
        fs.room = Number.POSITIVE_INFINITY;
      },
    });
  }, 60_000);

  const mounted = smallDisk(4 * 1024 * 1024);
  const skip = skipReason("the tmpfs disk-full test", mounted);
  afterAll(() => {
    if (typeof mounted !== "string") mounted.unmount();
  });
  it.skipIf(skip !== undefined)(
    `obs 1 (a real tmpfs runs full): the same${skip ? ` — ${skip}` : ""}`,
    async () => {
      if (typeof mounted === "string") return;
      let free = () => {};
      await fillsUpUnderLoad({
        dataDir: join(mounted.path, "data"),
        fill: () => {
          free = fillDisk(mounted.path);
        },
        free: () => free(),
      });
    },
    90_000,
  );

  it.skipIf(skip !== undefined)(
    `obs 1 (a real tmpfs runs full): a restart on the full disk refuses cleanly and leaves the journal as it was${skip ? ` — ${skip}` : ""}`,
    async () => {
      if (typeof mounted === "string") return;
      const dir = join(mounted.path, "restart");
      const policy = compilePolicy(config());
      const { ledger } = await Ledger.open({ dir, policy, snapshotIntervalMs: 0 });
      await ledger.adjust({ identity: {}, cost: 5, reason: "before the crash" });
      ledger.abandon(); // crashed: its lock is left behind for the restart to take over
      const journal = () => journalFiles(join(dir, "journal")).map((f) => readFileSync(f, "utf8"));
      const before = journal();
      const free = fillDisk(mounted.path);
      try {
        await expect(Ledger.open({ dir, policy, snapshotIntervalMs: 0 })).rejects.toMatchObject({
          code: expect.stringMatching(/^(store_unavailable|io_error)$/),
          message: expect.stringContaining("ENOSPC"),
        });
        expect(journal()).toEqual(before);
      } finally {
        free();
      }
      const { ledger: again } = await Ledger.open({ dir, policy, snapshotIntervalMs: 0 });
      await again.close();
    },
  );
});

/** A streamed answer read to its end; `fill` runs once the first bytes are in. */
async function streamed(
  url: string,
  route: StreamRoute,
  fill: () => void,
): Promise<{ id: string; text: string }> {
  const path = { chat: "chat/completions", messages: "messages", responses: "responses" }[route];
  const body =
    route === "responses"
      ? { model: "m", stream: true, max_output_tokens: 50, input: "hi" }
      : { model: "m", stream: true, max_tokens: 50, messages: [{ role: "user", content: "hi" }] };
  const res = await fetch(`${url}/v1/${path}`, {
    method: "POST",
    headers: { authorization: "Bearer streamer", "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    if (text === "") fill();
    text += decoder.decode(next.value, { stream: true });
  }
  return { id: res.headers.get("x-tokenpak-request-id") ?? "", text };
}

type StreamRoute = "chat" | "messages" | "responses";
/** What would tell each route's client that the answer is whole. */
const WHOLE: Record<StreamRoute, string> = {
  chat: "[DONE]",
  messages: "message_stop",
  responses: "response.completed",
};

describe("a stream that ends while the journal cannot be written", () => {
  it.each(["chat", "messages", "responses"] as const)(
    "%s: the client gets an error event in its format, not cost_cents=0; the spend is journalled once the disk is back",
    async (route) => {
      const fs = faultyFs();
      const dataDir = mkdtempSync(join(tmpdir(), "tokenpak-diskfull-stream-"));
      const proxy = await startProxy({
        config: config(),
        dataDir,
        port: 0,
        warn: () => {},
        ledger: { journalIo: fs.io, journalRetryMs: 20 },
      });
      // The reservation is in the journal before the request goes upstream; the disk fills mid-answer.
      fake.next.push({ kind: "drip", ms: 20 });
      const { id, text } = await streamed(proxy.url, route, () => {
        fs.room = 0;
      });
      expect(fs.failures).toBeGreaterThan(0);
      expect(text).toContain("cannot write its journal");
      expect(text).toMatch(route === "chat" ? /"code":"store_unavailable"/ : /event: error/);
      expect(text).not.toContain("cost_cents=");
      expect(text).not.toContain(WHOLE[route]);

      fs.room = Number.POSITIVE_INFINITY;
      await until(() => proxy.ledger.writable, "the journal to take writes again");
      await proxy.close();
      // Charged once, at what the provider reported, in a journal of whole lines.
      const settles = settleEntries(dataDir).filter((e) => e.request_id === id);
      expect(settles).toHaveLength(1);
      expect(settles[0]?.status).toBe("ok");
      expect(settles[0]?.cost).toBeGreaterThan(0);
      expect(settles[0]?.usage.output).toBe(30);
      for (const file of journalFiles(join(dataDir, "journal")))
        expect(readFileSync(file, "utf8").endsWith("\n"), file).toBe(true);
    },
    30_000,
  );
});
