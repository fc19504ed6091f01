// The admin API on the proxy port (/admin/* behind server.admin_token) — the same router as
// the control socket — and budget overrides through it and through `tokenpak budget override`.
import { Client } from "undici";
import { describe, expect, it } from "vitest";
import { checkConfig } from "../src/config/load.js";
import { sameSecret } from "../src/server/admin-http.js";
import { journalEntries } from "./helpers/journal.js";
import type { Parsed } from "./helpers/json.js";
import {
  chat,
  type Daemon,
  daemons,
  sleep,
  tokenpak,
  type Workspace,
  workspace,
} from "./helpers/operator.js";

const TOKEN = "admin-token-for-tests-0123456789";
const world = daemons(100);

// Each answer: 100 output tokens at 10¢/1k = 1¢, plus a little input. client-a may spend 2¢ a day.
const yaml = (server = `server: { admin_token: "${TOKEN}", admin_token_label: ops-bot }`) => `
budget: { daily_limit_cents: 100000 }
projects:
  client-a: { daily_limit_cents: 2 }
keys:
  - { name: a-key, key: tp-client-a-key-0001, project: client-a }
${server}
providers:
  openai: { type: openai, api_key: sk-upstream-secret, base_url: "${world.upstream.url}/v1" }
models:
  gpt-4o: { provider: openai, pin_price: true, estimated_input_cost_per_1k: 0.1, estimated_output_cost_per_1k: 10, max_output_tokens: 100 }
`;

const start = (w: Workspace) => world.start(w);

async function admin(
  proxy: Daemon,
  method: string,
  path: string,
  options: { token?: string | null; body?: unknown; raw?: string } = {},
): Promise<{ status: number; json: Parsed }> {
  const token = options.token === undefined ? TOKEN : options.token;
  const res = await fetch(`${proxy.url}${path}`, {
    method,
    headers: {
      ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
      "content-type": "application/json",
    },
    ...(options.raw !== undefined
      ? { body: options.raw }
      : options.body !== undefined
        ? { body: JSON.stringify(options.body) }
        : {}),
  });
  return { status: res.status, json: (await res.json()) as Parsed };
}

async function overSocket(
  proxy: Daemon,
  method: "GET",
  path: string,
): Promise<{ status: number; json: Parsed }> {
  const client = new Client("http://tokenpak", { socketPath: proxy.controlSocket ?? "" });
  try {
    const res = await client.request({ method, path });
    return { status: res.statusCode, json: (await res.body.json()) as Parsed };
  } finally {
    await client.close();
  }
}

const KEY = "tp-client-a-key-0001";

describe("the admin API on the proxy port", () => {
  it("does not exist without server.admin_token: every route is the proxy's plain 404", async () => {
    const proxy = await start(workspace(yaml("")));
    for (const [method, path] of [
      ["GET", "/admin/status"],
      ["POST", "/admin/keys"],
      ["DELETE", "/admin/keys/a-key"],
      ["POST", "/admin/reload"],
    ] as const) {
      const res = await admin(proxy, method, path, { body: method === "POST" ? {} : undefined });
      expect(res, `${method} ${path}`).toMatchObject({
        status: 404,
        json: {
          error: {
            code: "not_found",
            message: `no route ${method} ${path}: tokenpak forwards only budgeted routes`,
          },
        },
      });
    }
    // The control socket serves the same router, with no token.
    expect((await overSocket(proxy, "GET", "/admin/status")).status).toBe(200);
  });

  it("refuses a missing or wrong token with 401; the right one is served, by the same router as the socket", async () => {
    const proxy = await start(workspace(yaml()));
    expect(await admin(proxy, "GET", "/admin/status", { token: null })).toMatchObject({
      status: 401,
      json: {
        error: {
          code: "unauthorized",
          message: "admin API: send Authorization: Bearer <server.admin_token>",
        },
      },
    });
    expect(await admin(proxy, "GET", "/admin/status", { token: "wrong" })).toMatchObject({
      status: 401,
      json: { error: { message: "admin API: wrong admin token" } },
    });
    expect(await admin(proxy, "GET", "/admin/status", { token: `${TOKEN}x` })).toMatchObject({ status: 401 });
    // A client key is no admin token.
    expect((await admin(proxy, "GET", "/admin/keys", { token: KEY })).status).toBe(401);
    const status = await admin(proxy, "GET", "/admin/status");
    expect(status).toMatchObject({ status: 200, json: { ok: true, pid: process.pid, overrides: [] } });
    expect((await overSocket(proxy, "GET", "/admin/status")).json).toEqual(status.json);
    // Compared as digests: any lengths, no throw, only equal secrets match.
    expect(sameSecret("a", "a")).toBe(true);
    expect(sameSecret("a", "ab")).toBe(false);
    expect(sameSecret("", TOKEN)).toBe(false);
    // A short token is legal but validate-config warns about it.
    const short = checkConfig(yaml('server: { admin_token: "abc123" }'), "t.yaml", {});
    expect(short.warnings.map((w) => w.path)).toContain("server.admin_token");
    // A long one from the environment is what it should be; written in the file, it is warned about too.
    const fromEnv = checkConfig(yaml("server: { admin_token: ${TP_ADMIN} }"), "t.yaml", { TP_ADMIN: TOKEN });
    expect(fromEnv.warnings.map((w) => w.path)).not.toContain("server.admin_token");
    expect(checkConfig(yaml(), "t.yaml", {}).warnings.map((w) => w.message)).toContain(
      "the admin token is written in the file: whoever reads it (a backup, the repository, a support bundle) can use the admin API",
    );
  });

  it("a malformed body is a 400 naming the field", async () => {
    const proxy = await start(workspace(yaml()));
    const cases: [string, string, unknown, string, string][] = [
      [
        "POST",
        "/admin/overrides",
        { scope: "project:client-a", add_cents: "lots", reason: "r" },
        "body.add_cents",
        "body.add_cents must be number",
      ],
      // A missing field is named itself, not the object that lacks it.
      [
        "POST",
        "/admin/overrides",
        { scope: "project:client-a", add_cents: 5 },
        "body.reason",
        "body needs reason",
      ],
      // Past $10,000,000 the µ¢ would no longer be exact integers: too large, not "not more than zero".
      [
        "POST",
        "/admin/overrides",
        { scope: "project:client-a", add_cents: 99_999_999_999, reason: "r" },
        "body.add_cents",
        "body.add_cents is too large: at most 1000000000",
      ],
      // An impossible date is refused, not moved to March 2nd.
      [
        "POST",
        "/admin/overrides",
        { scope: "project:client-a", add_cents: 5, reason: "r", until: "2026-02-30T00:00Z" },
        "body.until",
        "body.until is not a real date and time: 2026-02-30T00:00Z",
      ],
      [
        "POST",
        "/admin/keys",
        { name: "x", expires_at: "2031-04-31T00:00Z" },
        "body.expires_at",
        "body.expires_at is not a real date and time: 2031-04-31T00:00Z",
      ],
      [
        "POST",
        "/admin/overrides",
        { scope: "project:client-a", add_cents: 5, reason: "r", window: "weekly" },
        "body.window",
        'body.window must match pattern "^(daily|monthly|[1-9][0-9]*(m|h|d))$"',
      ],
      ["POST", "/admin/keys", { name: "x", admin: true }, "body", "body has an unknown field admin"],
      [
        "POST",
        "/admin/keys",
        { name: "x", daily_limit_cents: -1 },
        "body.daily_limit_cents",
        "body.daily_limit_cents must be > 0",
      ],
      [
        "POST",
        "/admin/keys/a-key/rotate",
        { grace_seconds: 1.5 },
        "body.grace_seconds",
        "body.grace_seconds must be integer",
      ],
      [
        "GET",
        "/admin/report?by=nope",
        undefined,
        "body.by",
        "body.by must be one of project, user, key, team, model, provider, run, day, month",
      ],
    ];
    for (const [method, path, body, field, message] of cases) {
      const res = await admin(proxy, method, path, { body });
      expect(res, `${method} ${path} ${JSON.stringify(body)}`).toMatchObject({
        status: 400,
        json: { error: { code: "invalid_request", field, message } },
      });
    }
    expect(await admin(proxy, "POST", "/admin/keys", { raw: "{not json" })).toMatchObject({
      status: 400,
      json: { error: { message: "the body is not JSON" } },
    });
    // A rule the schema cannot say is still the field's: a scope with no dollar limit to raise.
    expect(
      await admin(proxy, "POST", "/admin/overrides", {
        body: { scope: "user:nobody", add_cents: 5, reason: "r" },
      }),
    ).toMatchObject({ status: 400, json: { error: { code: "invalid_argument", field: "scope" } } });
  });

  it("keys over HTTP: made by the token's label, listed without secrets, revoked", async () => {
    const w = workspace(yaml());
    const proxy = await start(w);
    const made = await admin(proxy, "POST", "/admin/keys", { body: { name: "remote", project: "client-a" } });
    expect(made).toMatchObject({
      status: 200,
      json: { key: { name: "remote", created_by: "ops-bot" }, open_mode_ended: false },
    });
    const secret = made.json.secret as string;
    expect((await chat(proxy.url, secret)).status).toBe(200);
    const listed = await admin(proxy, "GET", "/admin/keys");
    expect(listed.json.keys.map((k: Parsed) => k.name)).toEqual(["a-key", "remote"]);
    expect(JSON.stringify(listed.json)).not.toContain(secret);
    expect(await admin(proxy, "DELETE", "/admin/keys/remote")).toMatchObject({
      status: 200,
      json: { revoked: true },
    });
    expect((await chat(proxy.url, secret)).status).toBe(401);
    expect(await admin(proxy, "DELETE", "/admin/keys/nobody")).toMatchObject({
      status: 404,
      json: { error: { code: "not_found" } },
    });
    // The report op: spend by key, the revoked one's included.
    const report = await admin(proxy, "GET", "/admin/report?by=key&by=model");
    expect(report.json.rows.map((r: Parsed) => r.group)).toEqual([{ key: "remote", model: "gpt-4o" }]);
  });

  it("an internal error on the port is logged with its stack and answered generically; the socket tells the operator", async () => {
    const proxy = await start(workspace(yaml()));
    proxy.keys.list = () => {
      throw new Error("the store password is hunter2");
    };
    const res = await admin(proxy, "GET", "/admin/keys");
    expect(res.status).toBe(500);
    expect(res.json.error.code).toBe("internal_error");
    expect(res.json.error.message).not.toContain("hunter2");
    expect(proxy.warnings.join("\n")).toMatch(/internal error in request .*hunter2\n\s+at /);
    const local = await overSocket(proxy, "GET", "/admin/keys");
    expect(local.json.error.message).toBe("internal error: the store password is hunter2");
  });
});

describe("budget overrides", () => {
  it("raise the cap for the next request, show in status and refusals, and end on their own at --until", async () => {
    const w = workspace(yaml());
    const proxy = await start(w);
    // Spend client-a's 2¢ day: the third request no longer fits.
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await chat(proxy.url, KEY));
    const refused = answers.at(-1);
    expect(refused?.status).toBe(402);
    expect(refused?.json.error.message).toMatch(
      /^Project client-a has reached daily budget limit \(\$0\.02\)\. Rejecting request\.$/,
    );

    const until = new Date(Date.now() + 2500).toISOString();
    const made = await admin(proxy, "POST", "/admin/overrides", {
      body: { scope: "project:client-a", window: "daily", add_cents: 1.5, until, reason: "launch demo" },
    });
    expect(made).toMatchObject({
      status: 200,
      json: {
        override: {
          scope: "project:client-a",
          window: "daily",
          add_cents: 1.5,
          until,
          by: "ops-bot",
          reason: "launch demo",
        },
      },
    });
    const id = made.json.override.id as string;
    // The next request fits under the raised cap.
    expect((await chat(proxy.url, KEY)).status).toBe(200);
    // Shown in status: the daemon's, and the status rows (`tokenpak status`) carry it.
    expect((await admin(proxy, "GET", "/admin/status")).json.overrides).toMatchObject([
      { id, add_cents: 1.5 },
    ]);
    expect(proxy.ledger.status().find((s) => s.scope === "project:client-a")).toMatchObject({
      limit: 2_000_000,
      cap: 3_500_000,
      raised: { micros: 1_500_000, until: Date.parse(until), ids: [id] },
    });
    // Spent up to the raised cap: the refusal names the override.
    let last = await chat(proxy.url, KEY);
    while (last.status === 200) last = await chat(proxy.url, KEY);
    expect(last.status).toBe(402);
    expect(last.json.error.message).toBe(
      `Project client-a has reached daily budget limit ($0.02 + override $0.015 until ${until}). Rejecting request.`,
    );
    expect(last.json.error).toMatchObject({ override_cents: 1.5, override_until: until, limit_cents: 2 });
    // The journal records who, when, why and until when.
    expect(journalEntries(w.data).find((e) => e.type === "override")).toMatchObject({
      id,
      scope: "project:client-a",
      add: 1_500_000,
      until,
      reason: "launch demo",
      by: "ops-bot",
    });
    // At --until it is gone, by itself.
    await sleep(Date.parse(until) - Date.now() + 50);
    const after = await chat(proxy.url, KEY);
    expect(after.status).toBe(402);
    expect(after.json.error.message).toBe(
      "Project client-a has reached daily budget limit ($0.02). Rejecting request.",
    );
    expect((await admin(proxy, "GET", "/admin/overrides")).json.overrides).toEqual([]);
  });

  it("`tokenpak budget override` through the socket: who is the OS user; --list, --cancel; survives a restart", async () => {
    const w = workspace(yaml());
    let proxy = await start(w);
    const made = await tokenpak(w, [
      "budget",
      "override",
      "--scope",
      "project:client-a",
      "--add-cents",
      "100",
      "--until",
      "2h",
      "--reason",
      "quarter end",
    ]);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toMatch(
      /✓ override (ov-[0-9a-f]{8}): project:client-a every dollar limit \+\$1\.00 until \d{4}-.* through the running proxy \(pid \d+\)/,
    );
    const id = /ov-[0-9a-f]{8}/.exec(made.stdout)?.[0] ?? "";
    const listed = await tokenpak(w, ["budget", "override", "--list", "--json"]);
    const { userInfo } = await import("node:os");
    expect(listed.json().overrides).toMatchObject([
      { id, by: userInfo().username, reason: "quarter end", window: null },
    ]);

    await proxy.close();
    proxy = await start(w);
    expect((await admin(proxy, "GET", "/admin/overrides")).json.overrides.map((o: Parsed) => o.id)).toEqual([
      id,
    ]);
    const cancelled = await tokenpak(w, ["budget", "override", "--cancel", id]);
    expect(cancelled.stdout).toContain(`cancelled override ${id}`);
    expect((await tokenpak(w, ["budget", "override", "--list"])).stdout).toBe("no overrides in force\n");
    const again = await tokenpak(w, ["budget", "override", "--cancel", id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`no override ${id} in force`);

    const bad = await tokenpak(w, ["budget", "override", "--scope", "project:client-a", "--add-cents", "5"]);
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringContaining("an override needs --reason") });
    const both = await tokenpak(w, ["budget", "override", "--list", "--cancel", id]);
    expect(both.code).toBe(2);
    const noLimit = await tokenpak(w, [
      "budget",
      "override",
      "--scope",
      "project:client-a",
      "--window",
      "monthly",
      "--add-cents",
      "5",
      "--reason",
      "r",
    ]);
    expect(noLimit).toMatchObject({
      code: 1,
      stderr: expect.stringContaining("project:client-a has no monthly dollar limit (it has: daily)"),
    });

    // Flags are checked by the command, naming the flag, before the proxy is asked.
    const override = (...flags: string[]) =>
      tokenpak(w, ["budget", "override", "--scope", "project:client-a", "--reason", "r", ...flags]);
    for (const [flags, message] of [
      [["--add-cents", "99999999999"], "--add-cents is too large: at most 1000000000 cents ($10,000,000.00)"],
      [["--add-cents", "5", "--until", "2026-02-30T00:00Z"], "--until must be a duration"],
      [["--add-cents", "5", "--window", "weekly"], "--window must be daily, monthly or a rolling window"],
    ] as const) {
      const r = await override(...flags);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(message);
      expect(r.stderr).not.toContain("body.");
    }
    const grace = await tokenpak(w, ["keys", "rotate", "a-key", "--grace", "400d"]);
    expect(grace).toMatchObject({
      code: 1,
      stderr: expect.stringContaining("--grace is too long: at most 365d"),
    });
    const expires = await tokenpak(w, [
      "keys",
      "create",
      "--name",
      "later",
      "--expires",
      "2031-04-31T00:00Z",
    ]);
    expect(expires).toMatchObject({
      code: 1,
      stderr: expect.stringContaining("--expires must be a duration"),
    });
    const compact = await tokenpak(w, ["ledger", "compact", "--before", "2026-1"]);
    expect(compact).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('--before must be a month YYYY-MM (2026-01), got "2026-1"'),
    });
    expect((await tokenpak(w, ["ledger", "compact", "--before", "2026-13"])).stderr).toContain(
      "--before must be a month YYYY-MM",
    );
    expect((await admin(proxy, "GET", "/admin/overrides")).json.overrides).toEqual([]);
  });
});
