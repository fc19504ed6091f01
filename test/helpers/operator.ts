// What the operator-control tests share: workspaces (a config file and a data directory),
// the CLI run in this process as a user runs it, the daemon started in-process with its
// structured log captured, and requests to it.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { type ProxyEvent, type RunningProxy, startProxy } from "../../src/server/serve.js";
import { runInProcess } from "./cli.js";
import { type FakeUpstream, startFakeUpstream } from "./fake-upstream.js";
import type { Parsed } from "./json.js";

export interface Workspace {
  dir: string;
  config: string;
  data: string;
}

const scratch = mkdtempSync(join(tmpdir(), "tokenpak-operator-"));
let made = 0;

/** A fresh directory with tokenpak.yaml (from `yaml`) and, beside it, data/. */
export function workspace(yaml: string): Workspace {
  const dir = join(scratch, `w${++made}`);
  mkdirSync(dir, { recursive: true });
  const config = join(dir, "tokenpak.yaml");
  writeFileSync(config, yaml);
  return { dir, config, data: join(dir, "data") };
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json(): Parsed;
}

/** `tokenpak ...args --config <w> --data-dir <w>` in this process, run from the workspace. */
export async function tokenpak(w: Workspace, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const run = await runInProcess([...args, "--config", w.config, "--data-dir", w.data], w.dir, {
    HOME: scratch,
    NO_COLOR: "1",
    ...env,
  });
  return { ...run, json: () => JSON.parse(run.stdout) as Parsed };
}

export interface Daemon extends RunningProxy {
  events: ProxyEvent[];
  warnings: string[];
}

/** The daemon on port 0, in this process, with the workspace's config file (so it can reload it). */
export async function daemon(w: Workspace, env: Record<string, string> = {}): Promise<Daemon> {
  const { config } = await loadConfig(w.config, env);
  const events: ProxyEvent[] = [];
  const warnings: string[] = [];
  const proxy = await startProxy({
    config,
    dataDir: w.data,
    port: 0,
    configFile: w.config,
    env,
    log: (e) => events.push(e),
    warn: (m) => warnings.push(m),
  });
  return Object.assign(proxy, { events, warnings });
}

/**
 * A test file's fake provider and the daemons its tests start from workspaces:
 * each daemon is closed after its test (closing twice is harmless), the fake's
 * queued behaviours cleared.
 */
export function daemons(replyTokens: number) {
  let fake: FakeUpstream | undefined;
  const running: Daemon[] = [];
  beforeAll(async () => {
    fake = await startFakeUpstream({ replyTokens });
  });
  afterEach(async () => {
    for (const d of running.splice(0)) await d.close();
    if (fake) fake.next.length = 0;
  });
  afterAll(() => fake?.close());
  return {
    get upstream(): FakeUpstream {
      if (!fake) throw new Error("the fake provider starts in beforeAll");
      return fake;
    },
    async start(w: Workspace): Promise<Daemon> {
      const d = await daemon(w);
      running.push(d);
      return d;
    },
  };
}

export async function chat(
  url: string,
  key: string,
  body: Record<string, unknown> = {},
): Promise<{ status: number; json: Parsed; headers: Headers }> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hello" }], ...body }),
  });
  return { status: res.status, json: (await res.json()) as Parsed, headers: res.headers };
}

/** Every file under `dir`, with its bytes as text. */
export function filesUnder(dir: string): { path: string; text: string; mode: number }[] {
  const out: { path: string; text: string; mode: number }[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const stat = statSync(path);
    if (stat.isDirectory()) out.push(...filesUnder(path));
    else if (stat.isFile()) out.push({ path, text: readFileSync(path, "latin1"), mode: stat.mode & 0o777 });
  }
  return out;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
