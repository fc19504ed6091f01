/**
 * Proxy benchmark (issue #4, section 10). Not part of `npm test`.
 *
 *   npm run bench:proxy                        # 20 connections, 3 rounds of 10 s per target (about 2.5 minutes)
 *   npm run bench:proxy -- --quick             # 1 round of 3 s per target, a smoke run
 *   npm run bench:proxy -- --rounds 5          # more rounds, for a noisy machine
 *   npm run bench:proxy -- --json out.json     # also write the figures as JSON
 *   npm run bench:proxy -- --profile DIR       # --cpu-prof each proxy process (b, b2, c) into DIR
 *   npm run bench:proxy -- --targets tokenpak  # only some of fake,passthrough,json,tokenpak
 *   npm run bench:proxy -- --no-pin            # let the scheduler place the processes
 *   npm run bench:proxy -- --tokenpak-flags=--max-semi-space-size=32  # node flags for c only
 *   npm run bench:proxy -- --baseline ../old  # also c0: the build in ../old/dist, in the same rounds
 *
 * Four servers, each measured with autocannon (POST /v1/chat/completions, JSON):
 *  a. a fake OpenAI upstream (a fixed chat completion answer), directly;
 *  b. a minimal node:http + undici Pool passthrough in front of it;
 *  b2. Hono on @hono/node-server doing the JSON work tokenpak must do (parse
 *     the request, re-serialise it, parse the answer, add a field), no budgets:
 *     the floor under c on this stack;
 *  c. tokenpak in front of it: workspace daily and monthly limits, per-user
 *     limits, a project with a model limit, a client key, the journal on
 *     (fsync batch, as configured by default), 20 distinct users;
 *  c0 (with --baseline DIR): the same tokenpak config served by another build
 *     (DIR/dist, e.g. a git worktree of an earlier commit), so that a change
 *     is measured against what it replaced in the very same rounds.
 * Each server runs in its own child process (this file again, under the same
 * tsx loader); autocannon runs in this one. On a 2-core machine autocannon,
 * the proxy and the fake compete for the CPUs, so absolute figures are lower
 * than on a real deployment; the ratio c/b compares like with like. Where
 * taskset exists, the processes are pinned so that the server measured has a
 * CPU of its own (see placement()). Each run also reports the server's CPU
 * time per request, which other load on the machine disturbs least.
 *
 * All servers start at once and each is warmed up (not measured). The
 * 20-connection runs then go in rounds, every target once per round; the
 * ratios are taken within a round and the median over rounds is reported, so
 * that the machine changing speed between runs (a shared VM's neighbours)
 * does not decide the result. After the rounds,
 * a short run at 1 connection per target measures latency without queueing
 * (at 20 busy connections p50 is mostly waiting in line: 20 / throughput).
 */

import { type ChildProcess, execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { killChildren, median, percentile, spawnServer, stopServer } from "./lib.js";

type Kind = "fake" | "passthrough" | "json" | "tokenpak" | "baseline";

const MODEL = "gpt-4o-mini";
const KEY = "tp-bench-secret";
const CONNECTIONS = 20;
const USERS = 20;
const PATH = "/v1/chat/completions";

const requestBody = (user: string) =>
  JSON.stringify({
    model: MODEL,
    messages: [
      { role: "system", content: "You are a terse assistant." },
      { role: "user", content: "Say hello to the benchmark, in one short sentence." },
    ],
    user,
  });

function tokenpakConfig(upstream: string, dataDir: string): string {
  return `
budget:
  daily_limit_cents: 1000000000
  monthly_limit_cents: 1000000000
  per_user_limits:
    enabled: true
    default:
      daily_limit_cents: 100000000
      monthly_limit_cents: 1000000000
projects:
  bench:
    daily_limit_cents: 1000000000
    model_limits:
      ${MODEL}: { monthly_limit_cents: 1000000000 }
keys:
  - { name: bench-key, key: ${KEY}, project: bench, daily_limit_cents: 1000000000 }
providers:
  openai: { type: openai, api_key: sk-bench-upstream, base_url: "${upstream}/v1" }
models:
  ${MODEL}: { provider: openai, estimated_input_cost_per_1k: 0.015, estimated_output_cost_per_1k: 0.06, max_output_tokens: 1024 }
storage:
  path: ${JSON.stringify(dataDir)}
`;
}

// ---------------------------------------------------------------------------
// Children: the three servers. Each prints nothing, reports { url } over IPC,
// and on "stop" closes, reports its stats and exits.

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** A fast OpenAI stand-in: reads the request, answers one fixed chat completion. */
function serveFake(): Promise<{ url: string; stop: () => Promise<object> }> {
  const answer = Buffer.from(
    JSON.stringify({
      id: "chatcmpl-bench",
      object: "chat.completion",
      created: 1_700_000_000,
      model: MODEL,
      choices: [
        {
          index: 0,
          message: {
            role: "assistant",
            content: "Hello, benchmark: budgets keep agents honest, one token at a time.",
          },
          finish_reason: "stop",
        },
      ],
      usage: { prompt_tokens: 31, completion_tokens: 15, total_tokens: 46 },
    }),
  );
  let served = 0;
  const server = createServer(async (req, res) => {
    await readBody(req);
    served++;
    res.writeHead(200, { "content-type": "application/json", "content-length": answer.length }).end(answer);
  });
  server.keepAliveTimeout = 65_000;
  return listen(server, async () => ({ served }));
}

/** The least a proxy must do: read the request, send it on over a keep-alive Pool, relay the answer. */
function servePassthrough(upstream: string): Promise<{ url: string; stop: () => Promise<object> }> {
  const pool = new Pool(upstream, { connections: 128, pipelining: 1, keepAliveTimeout: 30_000 });
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const body = await readBody(req);
      const up = await pool.request({
        path: req.url ?? "/",
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      const answer = Buffer.from(await up.body.arrayBuffer());
      res
        .writeHead(up.statusCode, { "content-type": "application/json", "content-length": answer.length })
        .end(answer);
    } catch (error) {
      res.writeHead(502).end(String(error));
    }
  });
  server.keepAliveTimeout = 65_000;
  return listen(server, async () => {
    await pool.close();
    return {};
  });
}

/**
 * What any JSON-aware proxy on our stack pays before budgets: Hono on
 * @hono/node-server, the request parsed and re-serialised, the answer parsed and
 * given a field. The gap from b to here is the price of reading JSON; from here
 * to c, the price of budgeting.
 */
async function serveJsonPassthrough(upstream: string): Promise<{ url: string; stop: () => Promise<object> }> {
  const { Hono } = await import("hono");
  const { createAdaptorServer } = await import("@hono/node-server");
  const pool = new Pool(upstream, { connections: 128, pipelining: 1, keepAliveTimeout: 30_000 });
  const app = new Hono();
  app.post(PATH, async (c) => {
    const body = JSON.parse(await c.req.raw.text()) as Record<string, unknown>;
    body.max_tokens = 4096;
    const up = await pool.request({
      path: PATH,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = JSON.parse(await up.body.text()) as Record<string, unknown>;
    answer.cost_cents = 0;
    return new Response(JSON.stringify(answer), {
      status: up.statusCode,
      headers: { "content-type": "application/json" },
    });
  });
  const server = createAdaptorServer({ fetch: app.fetch }) as ReturnType<typeof createServer>;
  server.keepAliveTimeout = 65_000;
  return listen(server, async () => {
    await pool.close();
    return {};
  });
}

async function serveTokenpak(
  upstream: string,
  build: string | undefined,
): Promise<{ url: string; stop: () => Promise<object> }> {
  // The compiled build, as `tokenpak proxy` runs it (tsx's transform adds a helper call per closure).
  const root = build === undefined ? new URL("../", import.meta.url) : pathToFileURL(`${build}/`);
  const dist = (module: string) => new URL(`dist/${module}`, root).href;
  const { loadConfig }: typeof import("../src/config/load.js") = await import(dist("config/load.js"));
  const { startProxy }: typeof import("../src/server/serve.js") = await import(dist("server/serve.js"));
  const dir = mkdtempSync(join(tmpdir(), "tokenpak-bench-proxy-"));
  const dataDir = join(dir, "data");
  const file = join(dir, "tokenpak.yaml");
  writeFileSync(file, tokenpakConfig(upstream, dataDir));
  const { config } = await loadConfig(file, {});
  const proxy = await startProxy({ config, dataDir, port: 0 });
  return {
    url: proxy.url,
    stop: async () => {
      await proxy.close();
      const journal = join(dataDir, "journal");
      let reserves = 0;
      let settles = 0;
      for (const f of readdirSync(journal)) {
        const text = readFileSync(join(journal, f), "utf8");
        reserves += text.split('"type":"reserve"').length - 1;
        settles += text.split('"type":"settle"').length - 1;
      }
      rmSync(dir, { recursive: true, force: true });
      return { journal: { reserves, settles } };
    },
  };
}

function listen(
  server: ReturnType<typeof createServer>,
  onStop: () => Promise<object>,
): Promise<{ url: string; stop: () => Promise<object> }> {
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        stop: async () => {
          server.closeAllConnections();
          await new Promise<void>((r) => server.close(() => r()));
          return onStop();
        },
      });
    });
  });
}

async function child(kind: Kind, upstream: string | undefined, build: string | undefined): Promise<void> {
  const send = (message: object) => process.send?.(message);
  const running =
    kind === "fake"
      ? await serveFake()
      : kind === "passthrough"
        ? await servePassthrough(upstream ?? "")
        : kind === "json"
          ? await serveJsonPassthrough(upstream ?? "")
          : await serveTokenpak(upstream ?? "", kind === "baseline" ? build : undefined);
  process.on("message", async (m) => {
    if (m === "cpu") {
      const { user, system } = process.cpuUsage();
      send({ cpu: user + system });
      return;
    }
    if (m !== "stop") return;
    const stats = await running.stop();
    send({ stats });
    // A normal exit, so that --cpu-prof writes its profile.
    process.disconnect?.();
  });
  // Run by hand (or under --cpu-prof): a signal stops it with a normal exit, so the profile is written.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, async () => {
      await running.stop();
      process.exit(0);
    });
  }
  if (process.send) send({ url: running.url });
  else console.log(running.url); // run by hand: npx tsx bench/proxy.ts --serve fake
}

// ---------------------------------------------------------------------------
// Parent: start the servers, drive them with autocannon.

interface Server {
  kind: Kind;
  url: string;
  process: ChildProcess;
}

async function start(
  kind: Kind,
  upstream?: string,
  extraExecArgv: string[] = [],
  build?: string,
): Promise<Server> {
  const args = [
    "--serve",
    kind,
    ...(upstream ? ["--upstream", upstream] : []),
    ...(build ? ["--build", build] : []),
  ];
  return { kind, ...(await spawnServer(fileURLToPath(import.meta.url), args, extraExecArgv)) };
}

/** CPU time (user + system, µs) the server's process has used so far. */
function cpuOf(server: Server): Promise<number> {
  return new Promise((resolve) => {
    const onMessage = (m: unknown) => {
      const cpu = (m as { cpu?: number }).cpu;
      if (cpu === undefined) return;
      server.process.off("message", onMessage);
      resolve(cpu);
    };
    server.process.on("message", onMessage);
    server.process.send("cpu");
  });
}

/** Runs `load` and adds what it cost the server in CPU per request (immune to sharing the CPUs). */
async function measure(server: Server, connections: number, seconds: number): Promise<Load> {
  const before = await cpuOf(server);
  const l = await load(server.url, connections, seconds);
  l.cpuMicrosPerRequest = (await cpuOf(server)) - before;
  l.cpuMicrosPerRequest /= Math.max(1, l.requests);
  return l;
}

interface Load {
  connections: number;
  seconds: number;
  requests: number;
  rps: number;
  /** Milliseconds, from autocannon's per-response timings (full precision, not its 1 ms histogram). */
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  non2xx: number;
  errors: number;
  /** CPU time of the server process per 2xx response (µs), user + system. */
  cpuMicrosPerRequest?: number;
}

async function load(url: string, connections: number, seconds: number): Promise<Load> {
  const { default: autocannon } = await import("autocannon"); // only the parent needs it
  let times = new Float64Array(1 << 16);
  let n = 0;
  let user = 0;
  const instance = autocannon({
    url: `${url}${PATH}`,
    method: "POST",
    connections,
    duration: seconds,
    timeout: 10,
    headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
    body: requestBody("u0"),
    setupClient: (client) => client.setBody(requestBody(`u${user++ % USERS}`)),
  });
  instance.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status < 200 || status >= 300) return;
    if (n === times.length) {
      const grown = new Float64Array(times.length * 2);
      grown.set(times);
      times = grown;
    }
    times[n++] = ms;
  });
  const result = await instance;
  const sorted = times.subarray(0, n).sort();
  let sum = 0;
  for (const t of sorted) sum += t;
  return {
    connections,
    seconds: result.duration,
    requests: n,
    rps: n / result.duration,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    mean: sum / n,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

function describePlacement(cores: number): string {
  return cores === 2
    ? "CPU 0: autocannon + fake upstream (a: autocannon only); CPU 1: the server measured"
    : "CPU 0: autocannon; CPU 1: fake upstream; CPU 2: proxy";
}

/** Binds a process (all its threads) to one CPU with taskset; false where that is not possible. */
function pin(pid: number | undefined, cpu: number): boolean {
  if (pid === undefined) return false;
  try {
    execFileSync("taskset", ["-a", "-p", "-c", String(cpu), String(pid)], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * CPU placement, so that the server measured has a CPU of its own and the
 * scheduler does not move the three processes around between runs (without
 * it, the same code measured 130 to 300 µs of CPU per request on 2 cores).
 * 2 CPUs: autocannon and the fake share CPU 0, the server measured gets CPU 1
 * (in run a, the fake itself). 3 or more: autocannon 0, fake 1, proxy 2.
 */
function placement(
  cores: number,
): { bench: number; fake: (kind: Kind) => number; proxy: number } | undefined {
  if (cores < 2) return undefined;
  if (cores === 2) return { bench: 0, fake: (kind) => (kind === "fake" ? 1 : 0), proxy: 1 };
  return { bench: 0, fake: () => 1, proxy: 2 };
}

const LABELS: Record<Kind, string> = {
  fake: "a. fake upstream, direct",
  passthrough: "b. node:http + undici passthrough",
  json: "b2. Hono + JSON in and out, no budgets",
  tokenpak: "c. tokenpak (budgets, per-user limits, journal)",
  baseline: "c0. tokenpak, the --baseline build",
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "string" },
      profile: { type: "string" },
      duration: { type: "string" },
      rounds: { type: "string" },
      "tokenpak-flags": { type: "string" },
      targets: { type: "string" },
      "no-pin": { type: "boolean", default: false },
      baseline: { type: "string" },
      serve: { type: "string" },
      upstream: { type: "string" },
      build: { type: "string" },
    },
    strict: true,
  });
  if (values.serve !== undefined) return child(values.serve as Kind, values.upstream, values.build);

  const quick = values.quick === true;
  const seconds = values.duration !== undefined ? Number(values.duration) : quick ? 3 : 10;
  const rounds = values.rounds !== undefined ? Number(values.rounds) : quick ? 1 : 3;
  const warmup = quick ? 1 : 3;
  const latencySeconds = quick ? 2 : 5;
  const began = Date.now();
  const loadBefore = loadavg()[0] ?? 0;
  if (loadBefore > 0.5) progress(`load average ${loadBefore.toFixed(2)}: something else is using the CPUs`);

  const cores = availableParallelism();
  const place = values["no-pin"] === true ? undefined : placement(cores);
  let pinned = place !== undefined && pin(process.pid, place.bench);
  if (place && !pinned) progress("taskset is not available: processes are not pinned to CPUs");

  const all: Kind[] = ["fake", "passthrough", "json", "tokenpak"];
  const chosen =
    values.targets === undefined ? all : all.filter((k) => values.targets?.split(",").includes(k));
  const kinds: Kind[] = values.baseline === undefined ? chosen : [...chosen, "baseline"];
  // Every server runs from the start; the rounds take turns, so a change in the machine's speed
  // (a noisy neighbour) hits every target alike instead of whichever ran at that moment.
  const fake = await start("fake");
  const servers = new Map<Kind, Server>([["fake", fake]]);
  for (const kind of kinds) {
    if (kind === "fake") continue;
    const flags = values.profile !== undefined ? ["--cpu-prof", "--cpu-prof-dir", values.profile] : [];
    if ((kind === "tokenpak" || kind === "baseline") && values["tokenpak-flags"])
      flags.push(...values["tokenpak-flags"].split(" "));
    servers.set(kind, await start(kind, fake.url, flags, kind === "baseline" ? values.baseline : undefined));
  }
  const serverOf = (kind: Kind) => servers.get(kind) as Server;
  /** Gives the server measured next its own CPU. */
  const placeFor = (kind: Kind) => {
    if (!place || !pinned) return;
    pinned = pin(fake.process.pid, place.fake(kind));
    for (const [k, server] of servers) if (k !== "fake") pinned &&= pin(server.process.pid, place.proxy);
  };
  for (const kind of kinds) {
    placeFor(kind);
    progress(`${LABELS[kind]} at ${serverOf(kind).url}: warm-up ${warmup} s`);
    await load(serverOf(kind).url, CONNECTIONS, warmup);
  }
  const runs = new Map<Kind, Load[]>(kinds.map((k) => [k, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const kind of kinds) {
      placeFor(kind);
      progress(`round ${round}/${rounds}: ${LABELS[kind]}, ${CONNECTIONS} connections, ${seconds} s`);
      const s = await measure(serverOf(kind), CONNECTIONS, seconds);
      runs.get(kind)?.push(s);
      progress(`  ${Math.round(s.rps)} req/s, p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms`);
    }
  }
  const single = new Map<Kind, Load>();
  for (const kind of kinds) {
    placeFor(kind);
    progress(`${LABELS[kind]}: 1 connection, ${latencySeconds} s`);
    const one = await measure(serverOf(kind), 1, latencySeconds);
    single.set(kind, one);
    progress(`  ${Math.round(one.rps)} req/s, p50 ${one.p50.toFixed(3)} ms, p99 ${one.p99.toFixed(3)} ms`);
  }
  const stats = new Map<Kind, object>();
  for (const [kind, server] of servers)
    if (kind !== "fake") stats.set(kind, await stopServer(server.process));
  stats.set("fake", await stopServer(fake.process));
  // Per target, the round with the median req/s stands for it in the table.
  const saturated = new Map<Kind, Load>();
  for (const [kind, loads] of runs) {
    const sorted = [...loads].sort((x, y) => x.rps - y.rps);
    saturated.set(kind, sorted[(sorted.length - 1) >> 1] as Load);
  }
  /** A comparison of two targets in each round, where both ran seconds apart; [] when --targets left one out. */
  const perRound = (x: Kind, y: Kind, f: (a: Load, b: Load) => number): number[] => {
    const ys = runs.get(y) ?? [];
    return (runs.get(x) ?? []).flatMap((a, r) => (ys[r] ? [f(a, ys[r])] : []));
  };
  /** The median of perRound (NaN when there is none). */
  const compare = (x: Kind, y: Kind, f: (a: Load, b: Load) => number): number => {
    const values = perRound(x, y, f);
    return values.length > 0 ? median(values) : Number.NaN;
  };
  const ratio = compare("tokenpak", "passthrough", (c, b) => c.rps / b.rps);
  const jsonRatio = compare("json", "passthrough", (b2, b) => b2.rps / b.rps);
  // The same comparison by server CPU per request: what other load on the machine disturbs least.
  const cpu = (l: Load) => l.cpuMicrosPerRequest ?? Number.NaN;
  const cpuRatio = compare("passthrough", "tokenpak", (b, c) => cpu(b) / cpu(c));
  const addedP50 = compare("tokenpak", "fake", (c, a) => c.p50 - a.p50);
  const singleOf = (k: Kind) => single.get(k)?.p50 ?? Number.NaN;
  const addedP50Single = singleOf("tokenpak") - singleOf("fake");
  const roundRatios = perRound("tokenpak", "passthrough", (c, b) => c.rps / b.rps);
  // This build against the baseline's, round by round: req/s, and CPU per request the other way round.
  const baselineRounds = perRound("tokenpak", "baseline", (c, c0) => c.rps / c0.rps);
  const baselineCpuRounds = perRound("baseline", "tokenpak", (c0, c) => cpu(c0) / cpu(c));
  const bad = [...saturated.values(), ...single.values()].filter((l) => l.non2xx > 0 || l.errors > 0);
  const results = {
    meta: {
      date: new Date().toISOString(),
      mode: quick ? "quick" : "full",
      node: process.version,
      cpu: cpus()[0]?.model ?? "unknown",
      cores,
      connections: CONNECTIONS,
      seconds,
      rounds,
      warmupSeconds: warmup,
      latencySeconds,
      users: USERS,
      note: "servers run as child processes; autocannon runs in the benchmark process and shares the CPUs",
      pinning: pinned && place ? describePlacement(cores) : "none",
      tokenpakFlags: values["tokenpak-flags"] ?? "",
      baseline: values.baseline ?? "",
      totalSeconds: (Date.now() - began) / 1000,
      loadAverageBefore: loadBefore,
    },
    saturated: Object.fromEntries(saturated),
    singleConnection: Object.fromEntries(single),
    servers: Object.fromEntries(stats),
    ratio,
    roundRatios,
    jsonRatio,
    cpuRatio,
    addedP50Ms: addedP50,
    addedP50SingleConnectionMs: addedP50Single,
    ...(values.baseline !== undefined
      ? {
          baseline: {
            build: values.baseline,
            rpsRatioByRound: baselineRounds,
            cpuRatioByRound: baselineCpuRounds,
          },
        }
      : {}),
    targets: { ratio: ratio >= 0.6, addedP50: addedP50 <= 1 },
  };
  print(results, { ratio, jsonRatio, cpuRatio, roundRatios }, addedP50, addedP50Single);
  if (values.baseline !== undefined) {
    const fmt = (xs: number[]) =>
      `${xs.map((x) => x.toFixed(3)).join(", ")} (median ${median(xs).toFixed(3)})`;
    console.log(`c/c0 req/s by round, this build vs ${values.baseline}: ${fmt(baselineRounds)}`);
    console.log(`c0/c server CPU per request by round: ${fmt(baselineCpuRounds)}`);
  }
  if (values.json !== undefined) {
    writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
    progress(`wrote ${values.json}`);
  }
  if (bad.length > 0) {
    console.error("\nsome requests failed (non-2xx or errors): the figures above are not valid");
    process.exitCode = 1;
  }
}

// ---------------------------------------------------------------------------
// Output.

function print(
  r: {
    meta: {
      mode: string;
      node: string;
      cpu: string;
      cores: number;
      seconds: number;
      rounds: number;
      totalSeconds: number;
      loadAverageBefore: number;
      pinning: string;
      tokenpakFlags: string;
    };
    saturated: Record<string, Load>;
    singleConnection: Record<string, Load>;
    servers: Record<string, object>;
    targets: { ratio: boolean; addedP50: boolean };
  },
  {
    ratio,
    jsonRatio,
    cpuRatio,
    roundRatios,
  }: { ratio: number; jsonRatio: number; cpuRatio: number; roundRatios: number[] },
  addedP50: number,
  addedP50Single: number,
): void {
  const ms = (x: number) => `${x.toFixed(2)} ms`;
  const int = (x: number) => Math.round(x).toLocaleString("en-US");
  const yes = (ok: boolean) => (ok ? "yes" : "NO");
  const table = (title: string, loads: Record<string, Load>) => {
    const rows = [
      ["Target", "req/s", "p50", "p90", "p99", "requests", "non-2xx/errors", "server CPU/req"],
      ...(Object.entries(loads) as [Kind, Load][]).map(([k, l]) => [
        LABELS[k],
        int(l.rps),
        ms(l.p50),
        ms(l.p90),
        ms(l.p99),
        int(l.requests),
        `${l.non2xx}/${l.errors}`,
        l.cpuMicrosPerRequest === undefined ? "" : `${Math.round(l.cpuMicrosPerRequest)} µs`,
      ]),
    ];
    const widths = (rows[0] as string[]).map((_, c) => Math.max(...rows.map((row) => row[c]?.length ?? 0)));
    const line = (row: string[]) =>
      row
        .map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)))
        .join("  ");
    console.log(`\n${title}`);
    console.log(line(rows[0] as string[]));
    console.log(widths.map((w) => "-".repeat(w)).join("  "));
    for (const row of rows.slice(1)) console.log(line(row));
  };
  const { meta } = r;
  console.log(
    `\ntokenpak proxy benchmark (${meta.mode}) — node ${meta.node}, ${meta.cores} cores, ${meta.cpu}`,
  );
  console.log(
    "servers in child processes, autocannon in this one: they share the machine's CPUs, so absolute figures are pessimistic",
  );
  console.log(`pinned to CPUs with taskset: ${meta.pinning}`);
  if (meta.tokenpakFlags) console.log(`tokenpak (c) started with node flags: ${meta.tokenpakFlags}`);
  console.log(
    `1-minute load average before the run: ${meta.loadAverageBefore.toFixed(2)}` +
      (meta.loadAverageBefore > 0.5 ? " (the machine was busy: req/s and latencies are disturbed)" : ""),
  );
  table(
    `${CONNECTIONS} connections, ${meta.seconds} s per run, ${meta.rounds} round(s) taking turns; each target's median round`,
    r.saturated,
  );
  table("1 connection (no queueing: the time one request takes)", r.singleConnection);
  const summary: [string, string, string, string][] = [
    ["c/b req/s (median of the rounds' ratios)", ratio.toFixed(3), ">= 0.6", yes(r.targets.ratio)],
    ["  the same by server CPU per request, b/c", cpuRatio.toFixed(3), "", ""],
    ["b2/b req/s (JSON in and out on Hono, no budgets)", jsonRatio.toFixed(3), "", ""],
    [`added p50 latency c-a, ${CONNECTIONS} connections`, ms(addedP50), "<= 1 ms", yes(r.targets.addedP50)],
    ["added p50 latency c-a, 1 connection", ms(addedP50Single), "", ""],
  ];
  const w0 = Math.max(...summary.map((row) => row[0].length));
  const w1 = Math.max(...summary.map((row) => row[1].length));
  console.log(`\n${"Measure".padEnd(w0)}  ${"Result".padStart(w1)}  Target   Met`);
  for (const [name, value, target, met] of summary) {
    console.log(`${name.padEnd(w0)}  ${value.padStart(w1)}  ${target.padEnd(7)}  ${met}`.trimEnd());
  }
  if (roundRatios.length > 1)
    console.log(`c/b req/s by round: ${roundRatios.map((x) => x.toFixed(3)).join(", ")}`);
  const tp = r.servers.tokenpak as { journal?: { reserves: number; settles: number } } | undefined;
  if (tp?.journal) {
    console.log(
      `tokenpak journal: ${int(tp.journal.reserves)} reserve and ${int(tp.journal.settles)} settle lines written`,
    );
  }
  console.log(`\ntotal ${meta.totalSeconds.toFixed(1)} s`);
}

main().catch((error: unknown) => {
  console.error(error);
  killChildren();
  process.exitCode = 1;
});
