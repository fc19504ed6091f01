// Hot reload: `tokenpak reload`, POST /admin/reload and SIGHUP re-read the config and the key
// store; an invalid file is refused with validate-config's errors and the old config serves on.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ROOT } from "./helpers/cli.js";
import { settleEntries } from "./helpers/journal.js";
import type { Parsed } from "./helpers/json.js";
import { chat, daemons, sleep, tokenpak, type Workspace, workspace } from "./helpers/operator.js";

const world = daemons(100);
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
});

const KEY = "tp-client-a-key-0001";
const yaml = (o: { limit?: string; price?: number; port?: number; extra?: string } = {}) => `
budget: { daily_limit_cents: 100000 }
projects:
  client-a: { daily_limit_cents: ${o.limit ?? "1000"} }
keys:
  - { name: a-key, key: ${KEY}, project: client-a }
server: { port: ${o.port ?? 8000} }
providers:
  openai: { type: openai, api_key: sk-upstream-secret, base_url: "${world.upstream.url}/v1" }
models:
  gpt-4o: { provider: openai, pin_price: true, estimated_input_cost_per_1k: ${o.price ?? 1}, estimated_output_cost_per_1k: ${o.price ?? 1}, max_output_tokens: 100 }
${o.extra ?? ""}
`;

const start = (w: Workspace) => world.start(w);

/** What an answer costs at `centsPer1k` for both input and output, in cents. */
function costAt(answer: Parsed, centsPer1k: number): number {
  const u = answer.usage as { prompt_tokens: number; completion_tokens: number };
  return ((u.prompt_tokens + u.completion_tokens) * centsPer1k) / 1000;
}

describe("tokenpak reload", () => {
  it("refuses an invalid file with exactly validate-config's errors; the old config keeps serving", async () => {
    const w = workspace(yaml());
    const proxy = await start(w);
    expect((await chat(proxy.url, KEY)).status).toBe(200);
    writeFileSync(
      w.config,
      yaml({ limit: "-5" }).replace("provider: openai, pin_price", "provider: opnai, pin_price"),
    );
    const reload = await tokenpak(w, ["reload"]);
    const validate = await tokenpak(w, ["validate-config"]);
    expect(reload.code).toBe(1);
    expect(validate.code).toBe(1);
    const errors = (text: string) => text.split("\n").filter((l) => l.startsWith("✗"));
    expect(errors(reload.stderr)).toEqual(errors(validate.stderr));
    expect(errors(reload.stderr)).toEqual([
      expect.stringMatching(
        /^✗ tokenpak\.yaml:4:\d+ {2}projects\.client-a\.daily_limit_cents {2}must be greater than 0 /,
      ),
      expect.stringMatching(
        /^✗ tokenpak\.yaml:\d+:\d+ {2}models\.gpt-4o\.provider {2}provider `opnai` is not defined/,
      ),
      "✗ Config invalid: 2 errors in tokenpak.yaml",
    ]);
    expect(reload.stderr).toContain("The proxy keeps serving with the config it had.");
    // Logged too, and the old config still serves.
    expect(proxy.events.at(-1)).toMatchObject({ event: "reload", ok: false, code: "reload_refused" });
    expect(proxy.warnings.some((m) => m.startsWith("reload refused: "))).toBe(true);
    expect((await chat(proxy.url, KEY)).status).toBe(200);
    expect(proxy.config.projects?.["client-a"]?.daily_limit_cents).toBe(1000);

    // --json says the same, for scripts.
    const json = await tokenpak(w, ["reload", "--json"]);
    expect(json.json()).toMatchObject({
      ok: false,
      file: "tokenpak.yaml",
      errors: [{ path: "projects.client-a.daily_limit_cents" }, {}],
    });
  });

  it("a lowered limit binds the next request; host, port and storage say they need a restart", async () => {
    const w = workspace(yaml());
    const proxy = await start(w);
    expect((await chat(proxy.url, KEY)).status).toBe(200);
    writeFileSync(w.config, yaml({ limit: "0.01", port: 9123, extra: "storage: { fsync: always }" }));
    const reload = await tokenpak(w, ["reload"]);
    expect(reload.code, reload.stderr).toBe(0);
    expect(reload.stdout).toMatch(
      /✓ the proxy \(pid \d+\) reloaded tokenpak\.yaml: projects changed; 1 client key\n/,
    );
    expect(reload.stderr).toContain("! server.port: 8000 → 9123: takes effect at the next start");
    expect(reload.stderr).toContain('! storage.fsync: "batch" → "always": takes effect at the next start');
    const refused = await chat(proxy.url, KEY);
    expect(refused.status).toBe(402);
    expect(refused.json.error.message).toBe(
      "Project client-a has reached daily budget limit ($0.0001). Rejecting request.",
    );
    expect(proxy.events.at(-1)).toMatchObject({
      event: "reload",
      ok: true,
      by: expect.any(String),
      changed: ["projects"],
    });
  });

  it("a new daily limit on a scope that spent today counts today's spend: the counters are rebuilt from the journal", async () => {
    const w = workspace(
      yaml().replace("client-a: { daily_limit_cents: 1000 }", "client-a: { monthly_limit_cents: 1000 }"),
    );
    const proxy = await start(w);
    for (let i = 0; i < 3; i++) expect((await chat(proxy.url, KEY)).status).toBe(200);
    await proxy.ledger.snapshot(); // the ledger drops the day a monthly-only project does not count in
    writeFileSync(
      w.config,
      yaml({ limit: "0.05" }).replace(
        "daily_limit_cents: 0.05",
        "daily_limit_cents: 0.05, monthly_limit_cents: 1000",
      ),
    );
    const reload = await tokenpak(w, ["reload", "--json"]);
    expect(reload.json()).toMatchObject({ ok: true, changed: ["projects"], rebuilt_from_journal: 6 });
    const refused = await chat(proxy.url, KEY);
    expect(refused.status).toBe(402);
    expect(refused.json.error).toMatchObject({ scope: "project:client-a", window: "daily" });
    expect(refused.json.error.spent_cents).toBeGreaterThan(0.05);
  });

  it("a request in flight during a reload finishes, and is settled, at its own prices; the next pays the new ones", async () => {
    const w = workspace(yaml({ price: 1 }));
    const proxy = await start(w);
    world.upstream.next.push({ kind: "delay", ms: 700 });
    const inFlight = chat(proxy.url, KEY);
    while (proxy.ledger.openReservations === 0) await sleep(5);
    writeFileSync(w.config, yaml({ price: 10 }));
    const reload = await tokenpak(w, ["reload", "--json"]);
    expect(reload.json()).toMatchObject({ ok: true, changed: ["models"] });
    expect(proxy.ledger.openReservations).toBe(1); // still in flight after the reload
    const old = await inFlight;
    expect(old.status).toBe(200);
    expect(old.json.cost_cents).toBeCloseTo(costAt(old.json, 1), 9);
    const next = await chat(proxy.url, KEY);
    expect(next.json.cost_cents).toBeCloseTo(costAt(next.json, 10), 9);
    const settles = settleEntries(w.data);
    expect(settles.map((s) => s.cost)).toEqual([
      Math.round(costAt(old.json, 1) * 1_000_000),
      Math.round(costAt(next.json, 10) * 1_000_000),
    ]);
  });

  it("keys: a key added to the config serves at once; POST /admin/reload does the same as the command; none running is exit 4", async () => {
    const w = workspace(
      yaml({ extra: 'server: { admin_token: "reload-admin-token-0123" }' }).replace(
        "server: { port: 8000 }\n",
        "",
      ),
    );
    const proxy = await start(w);
    expect((await chat(proxy.url, "tp-added-later-key-01")).status).toBe(401);
    writeFileSync(
      w.config,
      readFileSync(w.config, "utf8").replace(
        "keys:\n",
        "keys:\n  - { name: later, key: tp-added-later-key-01, project: client-a }\n",
      ),
    );
    const res = await fetch(`${proxy.url}/admin/reload`, {
      method: "POST",
      headers: { authorization: "Bearer reload-admin-token-0123" },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ changed: ["keys"], keys: 2, restart_required: [] });
    expect((await chat(proxy.url, "tp-added-later-key-01")).status).toBe(200);
    expect(proxy.events.at(-1)).toMatchObject({ event: "reload", ok: true, by: "admin-api" });
    // A refused reload over HTTP is a 422 with the problems.
    writeFileSync(w.config, "budget: [\n");
    const bad = await fetch(`${proxy.url}/admin/reload`, {
      method: "POST",
      headers: { authorization: "Bearer reload-admin-token-0123" },
    });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as Parsed).error).toMatchObject({
      code: "reload_refused",
      problems: [{ path: "(yaml)" }],
    });
    await proxy.close();
    const none = await tokenpak(w, ["reload"]);
    expect(none.code).toBe(4);
    expect(none.stderr).toContain("no proxy is running on");
  });
});

describe("tokenpak proxy as a service", () => {
  it("logs one JSON line per start, reload and stop; SIGHUP reloads, and an invalid file changes nothing", async () => {
    const w = workspace(yaml());
    const child = spawn(
      process.execPath,
      [join(ROOT, "bin", "tokenpak.js"), "proxy", "--port", "0", "--config", w.config, "--data-dir", w.data],
      {
        env: { PATH: process.env.PATH ?? "", HOME: w.dir, NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    children.push(child);
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const records = () =>
      stderr
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Parsed);
    const until = async (n: number) => {
      const deadline = Date.now() + 10_000;
      while (records().length < n) {
        if (Date.now() > deadline) throw new Error(`no log record ${n}: ${stderr}`);
        await sleep(20);
      }
      return records()[n - 1] as Parsed;
    };
    const started = await until(1);
    expect(started).toMatchObject({
      event: "start",
      pid: child.pid,
      config: w.config,
      data_dir: w.data,
      keys: 1,
      open_mode: false,
    });
    expect(Date.parse(started.ts)).toBeGreaterThan(Date.now() - 60_000);
    const url = started.url as string;
    expect((await chat(url, KEY)).status).toBe(200);

    writeFileSync(w.config, yaml({ limit: "0.01" }));
    child.kill("SIGHUP");
    expect(await until(2)).toMatchObject({ event: "reload", ok: true, by: "SIGHUP", changed: ["projects"] });
    expect((await chat(url, KEY)).status).toBe(402);

    writeFileSync(w.config, yaml({ limit: "oops" }));
    child.kill("SIGHUP");
    expect(await until(3)).toMatchObject({
      event: "reload",
      ok: false,
      code: "reload_refused",
      problems: [{ path: "projects.client-a.daily_limit_cents" }],
    });
    expect((await chat(url, KEY)).status).toBe(402); // still the last good config

    child.kill("SIGTERM");
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(0);
    expect(records().at(-1)).toMatchObject({ event: "stop", interrupted: 0 });
  });

  it("examples/tokenpak.service is what the docs install: simple, reload by SIGHUP, restart on failure, locked down", () => {
    const unit = readFileSync(join(ROOT, "examples", "tokenpak.service"), "utf8");
    for (const line of [
      "Type=simple",
      "ExecReload=/bin/kill -HUP $MAINPID",
      "Restart=on-failure",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ReadWritePaths=/var/lib/tokenpak",
      "Environment=TOKENPAK_HOME=/var/lib/tokenpak",
    ])
      expect(unit.split("\n"), line).toContain(line);
    expect(unit).toMatch(
      /^ExecStart=\S*tokenpak proxy --config \/etc\/tokenpak\/tokenpak\.yaml --data-dir \/var\/lib\/tokenpak$/m,
    );
    // Where systemd is at hand, it checks the unit too: the one complaint allowed is the binary not being installed here.
    const verify = spawnSync("systemd-analyze", ["verify", join(ROOT, "examples", "tokenpak.service")], {
      encoding: "utf8",
    });
    if (verify.error === undefined) {
      const complaints = `${verify.stdout}${verify.stderr}`.split("\n").filter((l) => l.trim() !== "");
      expect(complaints.filter((l) => !l.includes("/usr/bin/tokenpak is not executable"))).toEqual([]);
    }
    const docs = readFileSync(join(ROOT, "docs", "operations.md"), "utf8");
    expect(docs).toContain("examples/tokenpak.service");
    expect(docs).toContain("systemctl reload tokenpak");
  });
});
