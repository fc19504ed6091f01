/**
 * Alerts benchmark (issue #5): does a hanging webhook slow proxied requests?
 * Not part of `npm test`.
 *
 *   npm run bench:alerts                     # builds, then 3 rounds, 5 s per target and load (about 2 minutes)
 *   npm run bench:alerts -- --quick          # 1 round, 2 s each: a smoke run
 *   npm run bench:alerts -- --json out.json  # also write the figures as JSON
 *
 * Three tokenpak daemons (child processes) with the same budgets in front of
 * bench/proxy.ts's fake OpenAI upstream (forked with `--serve fake`). Every
 * request comes from a new user whose daily limit is so small that its one
 * request spends 68% of it — max_tokens clamped alike in all three:
 *   none     thresholds at 999%: no alert ever fires (the baseline);
 *   log      threshold 50%: every request fires an alert, to the log and outbox only;
 *   hanging  the same, and to a webhook that accepts connections and never
 *            answers (timeout 10 s, retried): thousands of deliveries pile up.
 * One alert per request is far above any real rate: the worst case. Each
 * target is measured at 1 connection (the time one request takes, no
 * queueing) and at 20; rounds alternate the targets so that other load on
 * the machine disturbs all three alike, and the median of the rounds counts.
 * Target: p50 at 1 connection of `hanging` within 10% of `none`.
 */

import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { killChildren, median, percentile, spawnServer, stopServer } from "./lib.js";

type Mode = "none" | "log" | "hanging";
const MODES: Mode[] = ["none", "log", "hanging"];
const MODEL = "gpt-4o-mini";
const PATH = "/v1/chat/completions";
const PROXY_BENCH = fileURLToPath(new URL("./proxy.ts", import.meta.url));

const BODY = JSON.stringify({
  model: MODEL,
  messages: [
    { role: "system", content: "You are a terse assistant." },
    { role: "user", content: "Say hello to the benchmark, in one short sentence." },
  ],
});

function config(mode: Mode, upstream: string, webhook: string, dataDir: string): string {
  // The fake answers 31 input + 15 output tokens: 0.001365¢, 68% of a 0.002¢ daily limit.
  return `
budget:
  alert_thresholds_pct: [${mode === "none" ? 999 : 50}]
${mode === "hanging" ? `  alert_webhook: "${webhook}/hook"` : ""}
  per_user_limits:
    enabled: true
    default: { daily_limit_cents: 0.002 }
providers:
  openai: { type: openai, api_key: sk-bench-upstream, base_url: "${upstream}/v1" }
models:
  ${MODEL}: { provider: openai, estimated_input_cost_per_1k: 0.015, estimated_output_cost_per_1k: 0.06, max_output_tokens: 1024 }
storage:
  path: ${JSON.stringify(dataDir)}
`;
}

// ---------------------------------------------------------------------------
// Child: one tokenpak daemon. Reports { url } over IPC; on "stop" closes and reports what it logged.

async function child(mode: Mode, upstream: string, webhook: string): Promise<void> {
  // The compiled build, as `tokenpak proxy` runs it (tsx's transform adds a helper call per closure).
  const dist = (module: string) => new URL(`../dist/${module}`, import.meta.url).href;
  const { loadConfig }: typeof import("../src/config/load.js") = await import(dist("config/load.js"));
  const { startProxy }: typeof import("../src/server/serve.js") = await import(dist("server/serve.js"));
  const dir = mkdtempSync(join(tmpdir(), `tokenpak-bench-alerts-${mode}-`));
  const dataDir = join(dir, "data");
  const file = join(dir, "tokenpak.yaml");
  writeFileSync(file, config(mode, upstream, webhook, dataDir));
  const { config: loaded } = await loadConfig(file, {});
  const proxy = await startProxy({ config: loaded, dataDir, port: 0 });
  process.on("message", async (m) => {
    if (m !== "stop") return;
    const pending = proxy.alerts.pendingDeliveries;
    await proxy.close();
    let alerts = 0;
    try {
      alerts = readFileSync(join(dataDir, "alerts.log"), "utf8").split(" ALERT ").length - 1;
    } catch {}
    rmSync(dir, { recursive: true, force: true });
    process.send?.({ stats: { alerts, pendingDeliveries: pending } });
    process.disconnect?.();
  });
  process.send?.({ url: proxy.url });
}

// ---------------------------------------------------------------------------
// Parent.

/** A webhook receiver that takes every request and never answers. */
async function hangingReceiver(): Promise<{
  url: string;
  received: () => number;
  close: () => Promise<void>;
}> {
  const held = new Set<ServerResponse>();
  let received = 0;
  const server = createServer((req, res) => {
    received++;
    req.resume();
    held.add(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: () => received,
    close: async () => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Latency of the 2xx answers (ms, from autocannon's per-response timings) and throughput. */
type Load = { rps: number; p50: number; p99: number; failed: number };

let users = 0;

/** autocannon against `url`, every request from a new user; latencies of 2xx answers, in ms. */
async function load(url: string, connections: number, seconds: number): Promise<Load> {
  const { default: autocannon } = await import("autocannon");
  const times: number[] = [];
  const instance = autocannon({
    url,
    connections,
    duration: seconds,
    timeout: 10,
    requests: [
      {
        method: "POST",
        path: PATH,
        body: BODY,
        // Open mode: the bearer token names the user.
        setupRequest: (request) => ({
          ...request,
          headers: { "content-type": "application/json", authorization: `Bearer u${users++}` },
        }),
      },
    ],
  });
  instance.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) times.push(ms);
  });
  const result = await instance;
  times.sort((a, b) => a - b);
  return {
    rps: times.length / result.duration,
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    failed: result.non2xx + result.errors + result.timeouts,
  };
}

function progress(message: string): void {
  process.stderr.write(`[bench:alerts] ${message}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "string" },
      serve: { type: "string" },
      upstream: { type: "string" },
      webhook: { type: "string" },
    },
    strict: true,
  });
  if (values.serve !== undefined)
    return child(values.serve as Mode, values.upstream ?? "", values.webhook ?? "");

  const quick = values.quick === true;
  const rounds = quick ? 1 : 3;
  const seconds = quick ? 2 : 5;
  const began = Date.now();
  const loadBefore = loadavg()[0] ?? 0;
  if (loadBefore > 0.5) progress(`load average ${loadBefore.toFixed(2)}: something else is using the CPUs`);

  const receiver = await hangingReceiver();
  const fake = await spawnServer(PROXY_BENCH, ["--serve", "fake"]);
  const servers = new Map<Mode, { url: string; process: ChildProcess }>();
  for (const mode of MODES) {
    servers.set(
      mode,
      await spawnServer(fileURLToPath(import.meta.url), [
        "--serve",
        mode,
        "--upstream",
        fake.url,
        "--webhook",
        receiver.url,
      ]),
    );
  }
  for (const [mode, s] of servers) {
    progress(`${mode}: warm-up`);
    await load(s.url, 20, quick ? 1 : 3);
  }
  const single = new Map<Mode, Load[]>(MODES.map((m) => [m, []]));
  const busy = new Map<Mode, Load[]>(MODES.map((m) => [m, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const mode of MODES) {
      const url = (servers.get(mode) as { url: string }).url;
      const one = await load(url, 1, seconds);
      const twenty = await load(url, 20, seconds);
      single.get(mode)?.push(one);
      busy.get(mode)?.push(twenty);
      progress(
        `round ${round} ${mode.padEnd(7)} 1 conn: p50 ${one.p50.toFixed(3)} ms, ${Math.round(one.rps)} req/s; ` +
          `20 conn: p50 ${twenty.p50.toFixed(2)} ms, ${Math.round(twenty.rps)} req/s`,
      );
    }
  }
  const stats = new Map<Mode, object>();
  for (const [mode, s] of servers) stats.set(mode, await stopServer(s.process));
  await stopServer(fake.process);
  const hung = receiver.received();
  await receiver.close();

  const summary = Object.fromEntries(
    MODES.map((mode) => {
      const ones = single.get(mode) ?? [];
      const twenties = busy.get(mode) ?? [];
      return [
        mode,
        {
          p50_1conn_ms: median(ones.map((l) => l.p50)),
          p99_1conn_ms: median(ones.map((l) => l.p99)),
          rps_1conn: median(ones.map((l) => l.rps)),
          p50_20conn_ms: median(twenties.map((l) => l.p50)),
          rps_20conn: median(twenties.map((l) => l.rps)),
          failed: [...ones, ...twenties].reduce((n, l) => n + l.failed, 0),
          server: stats.get(mode),
        },
      ];
    }),
  ) as Record<
    Mode,
    {
      p50_1conn_ms: number;
      p99_1conn_ms: number;
      rps_1conn: number;
      p50_20conn_ms: number;
      rps_20conn: number;
      failed: number;
      server: object | undefined;
    }
  >;
  const ratio1 = summary.hanging.p50_1conn_ms / summary.none.p50_1conn_ms;
  const ratio20 = summary.hanging.p50_20conn_ms / summary.none.p50_20conn_ms;
  const results = {
    meta: {
      date: new Date().toISOString(),
      mode: quick ? "quick" : "full",
      rounds,
      seconds,
      node: process.version,
      cpu: cpus()[0]?.model ?? "unknown",
      cores: cpus().length,
      loadAverageBefore: loadBefore,
      totalSeconds: (Date.now() - began) / 1000,
    },
    targets: summary,
    webhookRequestsHeld: hung,
    ratio: { p50_1conn: ratio1, p50_20conn: ratio20 },
    met: ratio1 <= 1.1,
  };

  const ms = (x: number) => `${x.toFixed(3)} ms`;
  console.log(
    `\ntokenpak alerts benchmark (${results.meta.mode}: ${rounds} round(s) × ${seconds} s) — node ${process.version}, ${results.meta.cores} cores`,
  );
  console.log(
    `load average before: ${loadBefore.toFixed(2)}; every request a new user; medians over the rounds\n`,
  );
  console.log(
    "target    p50 1 conn   p99 1 conn   req/s 1 conn   p50 20 conn   req/s 20 conn   alerts fired   failed",
  );
  for (const mode of MODES) {
    const t = summary[mode];
    const alerts = (t.server as { alerts?: number } | undefined)?.alerts ?? 0;
    console.log(
      `${mode.padEnd(8)}  ${ms(t.p50_1conn_ms).padStart(10)}   ${ms(t.p99_1conn_ms).padStart(10)}   ${String(Math.round(t.rps_1conn)).padStart(12)}   ${ms(t.p50_20conn_ms).padStart(11)}   ${String(Math.round(t.rps_20conn)).padStart(13)}   ${String(alerts).padStart(12)}   ${String(t.failed).padStart(6)}`,
    );
  }
  console.log(`\nwebhook requests held open by the hanging receiver: ${hung}`);
  console.log(
    `p50 at 1 connection, hanging / none: ${ratio1.toFixed(3)} (target <= 1.10: ${results.met ? "met" : "NOT met"})`,
  );
  console.log(`p50 at 20 connections, hanging / none: ${ratio20.toFixed(3)}`);
  console.log(`total ${results.meta.totalSeconds.toFixed(1)} s`);
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
  if (MODES.some((m) => summary[m].failed > 0)) {
    console.error("\nsome requests failed: the figures are not valid");
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  killChildren();
  process.exitCode = 1;
});
