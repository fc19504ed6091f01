// Client keys end to end: `tokenpak keys …` against a running proxy (through its control
// socket) and without one (under the ledger lock), requests with the keys made, and what
// the data directory keeps of them.
import { lstatSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { spendReport } from "../src/ledger/report.js";
import { startProxy } from "../src/server/serve.js";
import { settleEntries } from "./helpers/journal.js";
import { chat, daemons, filesUnder, sleep, tokenpak, type Workspace, workspace } from "./helpers/operator.js";
import { configFrom } from "./helpers/policy.js";

const world = daemons(20);

const yaml = (keys = "keys:\n  - { name: ops, key: tp-ops-config-key-0001, project: web }") => `
budget: { daily_limit_cents: 100000 }
teams: { blue: {} }
projects:
  client-a: { team: blue, daily_limit_cents: 50000 }
  web: {}
${keys}
providers:
  openai: { type: openai, api_key: sk-upstream-secret, base_url: "${world.upstream.url}/v1" }
models:
  gpt-4o: { provider: openai, pin_price: true, estimated_input_cost_per_1k: 0.25, estimated_output_cost_per_1k: 1, max_output_tokens: 256 }
`;

const start = (w: Workspace) => world.start(w);

describe("keys against a running proxy", () => {
  it("create → works and is attributed to its project; revoke → 401 at once; rotate → both until the grace ends; no secret on disk", async () => {
    const w = workspace(yaml());
    const proxy = await start(w);

    const created = await tokenpak(w, [
      "keys",
      "create",
      "--name",
      "ci",
      "--project",
      "client-a",
      "--daily-limit-cents",
      "500",
    ]);
    expect(created.code, created.stderr).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^tp-[A-Za-z0-9_-]{32}$/);
    expect(created.stderr).toMatch(
      /created key ci \(project client-a; limits \$5\.00\/day\) through the running proxy \(pid \d+\)/,
    );
    expect(created.stderr).toContain("only time the key is shown");

    const ok = await chat(proxy.url, key);
    expect(ok.status).toBe(200);
    const settle = settleEntries(w.data).at(-1);
    expect(settle).toMatchObject({ key: "ci", project: "client-a", team: "blue", status: "ok" });
    // The key's own limit counts: the store key's daily limit is in the policy.
    expect(proxy.ledger.status().find((s) => s.scope === "key:ci")).toMatchObject({ limit: 500_000_000 });

    const listed = await tokenpak(w, ["keys", "list", "--json"]);
    expect(listed.json().keys).toMatchObject([
      { name: "ops", source: "config", project: "web", state: "active" },
      {
        name: "ci",
        source: "store",
        project: "client-a",
        daily_limit_cents: 500,
        state: "active",
        created_by: expect.any(String),
      },
    ]);
    expect(Date.parse(listed.json().keys[1].last_used_at)).toBeGreaterThan(Date.now() - 60_000);
    expect(listed.stdout).not.toContain(key);
    const table = await tokenpak(w, ["keys", "list"]);
    expect(table.stdout.split("\n")[0]).toMatch(
      /^NAME\s+SOURCE\s+PROJECT\s+LIMITS\s+CREATED\s+LAST USED\s+STATE$/,
    );
    expect(table.stdout).toMatch(
      /\nci\s+store\s+client-a\s+\$5\.00\/day\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+active/,
    );

    // Rotate: a new secret, the old one until the grace ends.
    const rotated = await tokenpak(w, ["keys", "rotate", "ci", "--grace", "2s"]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const next = rotated.stdout.trim();
    expect(next).not.toBe(key);
    expect(rotated.stderr).toMatch(
      /rotated key ci through the running proxy .*: the old secret works until \d{4}-/,
    );
    expect((await chat(proxy.url, next)).status).toBe(200);
    expect((await chat(proxy.url, key)).status).toBe(200);
    await sleep(2100);
    expect((await chat(proxy.url, key)).status).toBe(401);
    expect((await chat(proxy.url, next)).status).toBe(200);

    // Revoke while a client keeps sending with the key. Timed from the moment the revoke starts:
    // the first 401 comes within a second, and nothing sent after the revoke returned gets through.
    const sent: { start: number; end: number; status: number }[] = [];
    let stop = false;
    const client = (async () => {
      while (!stop) {
        const start = Date.now();
        const { status } = await chat(proxy.url, next);
        sent.push({ start, end: Date.now(), status });
      }
    })();
    while (sent.length < 3) await sleep(5); // served, as before
    const began = Date.now();
    const revoked = await tokenpak(w, ["keys", "revoke", "ci"]);
    const returned = Date.now();
    expect(revoked.stdout).toMatch(
      /revoked key ci through the running proxy .*its spend stays under its name/,
    );
    for (const until = began + 5000; !sent.some((r) => r.status === 401) && Date.now() < until; )
      await sleep(5);
    stop = true;
    await client;
    const first = sent.find((r) => r.status === 401);
    expect(first, JSON.stringify(sent.slice(-5))).toBeDefined();
    expect((first?.end ?? Number.POSITIVE_INFINITY) - began).toBeLessThan(1000);
    expect(sent.filter((r) => r.start >= returned && r.status !== 401)).toEqual([]);
    expect(sent.filter((r) => r.end < began).every((r) => r.status === 200)).toBe(true);
    const served = sent.filter((r) => r.status === 200).length;
    const refused = await chat(proxy.url, next);
    expect(refused).toMatchObject({
      status: 401,
      json: { error: { code: "unauthorized", message: "invalid API key" } },
    });
    expect((await tokenpak(w, ["keys", "revoke", "ci"])).stdout).toContain("was already revoked");

    // Spend stays under the key's name: the journal's entries carry it, and a report by key shows it.
    const report = await spendReport(w.data, {
      from: 0,
      to: Date.now() + 1000,
      groupBy: ["key"],
      timeZone: "UTC",
    });
    expect(report.rows.find((r) => r.group.key === "ci")).toMatchObject({ requests: 4 + served });
    expect((await tokenpak(w, ["keys", "list", "--json"])).json().keys[1]).toMatchObject({
      name: "ci",
      state: "revoked",
    });

    // Nothing in the data directory holds a secret: not the store, the journal, the snapshot, the log.
    await proxy.close();
    const files = filesUnder(w.data);
    expect(files.map((f) => f.path)).toEqual(expect.arrayContaining([join(w.data, "keys.json")]));
    for (const f of files) {
      for (const secret of [key, next]) expect(f.text.includes(secret), `${f.path} holds a key`).toBe(false);
    }
    expect(files.find((f) => f.path.endsWith("keys.json"))?.mode).toBe(0o600);
  });

  it("a store key's own limit and spend show in status without the proxy too (offline status --all)", async () => {
    const w = workspace(yaml());
    const proxy = await start(w);
    const made = await tokenpak(w, ["keys", "create", "--name", "nightly", "--daily-limit-cents", "300"]);
    expect(made.code, made.stderr).toBe(0);
    expect((await chat(proxy.url, made.stdout.trim())).status).toBe(200);
    const spent = settleEntries(w.data).at(-1)?.cost ?? 0;
    expect(spent).toBeGreaterThan(0);
    await proxy.close();
    const offline = await tokenpak(w, ["status", "--all", "--json"]);
    expect(offline.code, offline.stderr).toBe(0);
    expect(offline.json().source).toBe("journal");
    expect(offline.json().rows.find((r: { scope: string }) => r.scope === "key:nightly")).toMatchObject({
      window: "daily",
      limit: 300_000_000,
      spent,
      state: "ok",
    });
  });

  it("an expired key is refused, saying so; a name clash with the config is refused", async () => {
    const w = workspace(yaml());
    const proxy = await start(w);
    const made = await tokenpak(w, ["keys", "create", "--name", "temp", "--expires", "2s", "--json"]);
    expect(made.code, made.stderr).toBe(0);
    const { secret, key } = made.json();
    expect(key).toMatchObject({ name: "temp", expires_at: expect.any(String) });
    expect((await chat(proxy.url, secret)).status).toBe(200);
    await sleep(Date.parse(key.expires_at) - Date.now() + 50);
    const expired = await chat(proxy.url, secret);
    expect(expired.status).toBe(401);
    expect(expired.json.error.message).toBe(`API key temp expired at ${key.expires_at}; ask for a new one`);
    expect((await tokenpak(w, ["keys", "list", "--json"])).json().keys[1].state).toBe("expired");

    const clash = await tokenpak(w, ["keys", "create", "--name", "ops"]);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain("key name ops is already used by a key in the config file");
    const undefinedProject = await tokenpak(w, ["keys", "create", "--name", "x", "--project", "nope"]);
    expect(undefinedProject.stderr).toContain(
      "project nope is not defined in the config (defined: client-a, web)",
    );
    const configKey = await tokenpak(w, ["keys", "revoke", "ops"]);
    expect(configKey.stderr).toContain("key ops is defined in the config file");
  });
});

describe("keys without a running proxy", () => {
  it("are written under the ledger lock, and the next start serves them; a config key of the same name stops the start", async () => {
    const w = workspace(yaml());
    const made = await tokenpak(w, ["keys", "create", "--name", "offline", "--project", "web"]);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).not.toContain("through the running proxy");
    expect(lstatSync(join(w.data, "keys.json")).mode & 0o777).toBe(0o600);
    const proxy = await start(w);
    expect((await chat(proxy.url, made.stdout.trim())).status).toBe(200);
    await proxy.close();

    writeFileSync(w.config, yaml("keys:\n  - { name: offline, key: tp-another-config-key-1, project: web }"));
    await expect(
      startProxy({
        config: configFrom(yaml("keys:\n  - { name: offline, key: tp-another-config-key-1, project: web }")),
        dataDir: w.data,
        port: 0,
      }),
    ).rejects.toMatchObject({
      code: "config_invalid",
      message: expect.stringContaining("key offline is also in the key store (keys.json)"),
    });
  });

  it("a change the proxy cannot take is refused before the store is written: the last key of a proxy beyond loopback", async () => {
    const w = workspace(yaml(""));
    const made = await tokenpak(w, ["keys", "create", "--name", "only"]);
    const { loadConfig } = await import("../src/config/load.js");
    const proxy = await startProxy({
      config: (await loadConfig(w.config, {})).config,
      dataDir: w.data,
      port: 0,
      host: "0.0.0.0",
    });
    try {
      const url = `http://127.0.0.1:${proxy.port}`;
      const revoked = await tokenpak(w, ["keys", "revoke", "only"]);
      expect(revoked.code).toBe(1);
      expect(revoked.stderr).toContain("no client keys are configured (open mode");
      expect(revoked.stderr).toContain("refusing to serve on 0.0.0.0");
      expect((await tokenpak(w, ["keys", "list", "--json"])).json().keys).toMatchObject([
        { name: "only", state: "active" },
      ]);
      expect((await chat(url, made.stdout.trim())).status).toBe(200);
    } finally {
      await proxy.close();
    }
  });

  it("the first key ends open mode at once; a second daemon on the data directory is ledger_locked", async () => {
    const w = workspace(yaml(""));
    const proxy = await start(w);
    expect(proxy.openMode).toBe(true);
    expect((await chat(proxy.url, "alice")).status).toBe(200);
    const made = await tokenpak(w, ["keys", "create", "--name", "first"]);
    expect(made.stderr).toContain("the proxy has left open mode, and every request now needs a key");
    expect(proxy.openMode).toBe(false);
    expect((await chat(proxy.url, "alice")).status).toBe(401);
    expect((await chat(proxy.url, made.stdout.trim())).status).toBe(200);

    await expect(
      startProxy({ config: configFrom(yaml("")), dataDir: w.data, port: 0 }),
    ).rejects.toMatchObject({
      code: "ledger_locked",
    });
    expect((await chat(proxy.url, made.stdout.trim())).status).toBe(200);
  });
});
