// `tokenpak sync-pricing` and `tokenpak pricing show` against price sources on
// loopback (a LiteLLM table derived from the real one, an OpenRouter models
// list), driven in-process through main() and once as a subprocess; and the
// real daemon picking a sync up live, pricing long context at its tier, and
// pricing offline from the bundled snapshot.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import type { Config } from "../src/config/types.generated.js";
import { bundledTable, writeStore } from "../src/pricing/store.js";
import { type RunningProxy, startProxy } from "../src/server/serve.js";
import { estimateMessagesInput } from "../src/tokenize/estimate.js";
import { type FakeUpstream, startFakeUpstream } from "./helpers/fake-upstream.js";
import { settleEntries } from "./helpers/journal.js";
import type { Parsed } from "./helpers/json.js";
import { configFrom } from "./helpers/policy.js";
import { LITELLM_TEXT, litellmWith, type PriceServer, startPriceServer } from "./helpers/price-server.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const HOUR = 3_600_000;

let prices: PriceServer;
let fake: FakeUpstream;
let scratch: string;
const proxies: RunningProxy[] = [];

beforeAll(async () => {
  prices = await startPriceServer();
  fake = await startFakeUpstream({ replyTokens: 40 });
  scratch = mkdtempSync(join(tmpdir(), "tokenpak-sync-pricing-"));
  // A document whose gpt-4o costs twice as much (input) and 1.5× (output).
  prices.answers.set("/doubled.json", {
    text: litellmWith({ "gpt-4o": { input_cost_per_token: 5e-6, output_cost_per_token: 1.5e-5 } }),
  });
});
afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close();
  fake.next.length = 0;
});
afterAll(async () => {
  await prices.close();
  await fake.close();
  rmSync(scratch, { recursive: true, force: true });
});

const MODELS = `
  gpt-4o: { provider: openai }
  gpt-4o-mini: { provider: openai, max_output_tokens: 1000 }
  gpt-4: { provider: openai, estimated_input_cost_per_1k: 3, estimated_output_cost_per_1k: 6 }
  mini-dated: { provider: openai, upstream_model: gpt-4o-mini-2025-01-01 }
  claude-3-5-sonnet: { provider: anthropic }
  mystery: { provider: openai, estimated_input_cost_per_1k: 1, estimated_output_cost_per_1k: 2 }`;
const CLAUDE_LONG = `
  claude-long: { provider: anthropic, upstream_model: claude-4-sonnet-20250514, max_output_tokens: 4096 }`;

interface Workspace {
  dir: string;
  config: string;
  data: string;
  yaml: string;
}

let dirs = 0;
/** A directory with tokenpak.yaml (sources: the loopback LiteLLM table) and data/ beside it. */
function workspace(models = MODELS + CLAUDE_LONG, extra = ""): Workspace {
  const dir = join(scratch, `w${++dirs}`);
  mkdirSync(dir, { recursive: true });
  const yaml = `
providers:
  openai: { type: openai, api_key: sk-upstream, base_url: "${fake.url}/v1" }
  anthropic: { type: anthropic, api_key: sk-ant-upstream, base_url: "${fake.url}" }
models:${models}
pricing:
  fetch_timeout_ms: 500
  sources:
    openai: ${prices.url}/litellm.json
    anthropic: ${prices.url}/litellm.json
storage: { path: data }
${extra}`;
  const config = join(dir, "tokenpak.yaml");
  writeFileSync(config, yaml);
  return { dir, config, data: join(dir, "data"), yaml };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `tokenpak ...args` in this process, its output captured. */
async function inProcess(args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  const out = { stdout: "", stderr: "" };
  const code = await main(["node", "tokenpak", ...args], {
    stdout: {
      write: (s) => {
        out.stdout += s;
      },
    },
    stderr: {
      write: (s) => {
        out.stderr += s;
      },
    },
    cwd,
    env: { HOME: scratch, NO_COLOR: "1", ...env },
    colorLevel: 0,
  });
  return { code, ...out };
}

/** `tokenpak --config <workspace> ...args`, in this process. */
function cli(w: Workspace, ...args: string[]): Promise<Run> {
  return inProcess(["--config", w.config, ...args], w.dir);
}

const lines = (text: string) => text.split("\n").filter((l) => l !== "");
const store = (w: Workspace) => join(w.data, "pricing.json");
const storeBytes = (w: Workspace) => (existsSync(store(w)) ? readFileSync(store(w)) : null);
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

async function show(w: Workspace): Promise<{ table: Parsed; models: Record<string, Parsed> }> {
  const run = await cli(w, "pricing", "show", "--json");
  expect(run.code, run.stderr).toBe(0);
  const out = JSON.parse(run.stdout) as Parsed;
  return { table: out.table, models: Object.fromEntries(out.models.map((m: Parsed) => [m.model, m])) };
}

async function sync(w: Workspace, ...args: string[]): Promise<Run> {
  const run = await cli(w, "sync-pricing", ...args);
  expect(run.code, `${run.stdout}${run.stderr}`).toBe(0);
  return run;
}

// The source values, in cents per 1k tokens: USD per token × 100,000. Where the source gives no
// cache price: reads at the input price, 5-minute / 1-hour writes at 1.25× / 2× it (Anthropic's rates).
const GPT_4O = { input: 0.25, output: 1, cached_input: 0.125, cache_write: 0.3125, cache_write_1h: 0.5 }; // 2.5e-06, 1e-05, 1.25e-06
const GPT_4O_MINI = {
  input: 0.015,
  output: 0.06,
  cached_input: 0.0075,
  cache_write: 0.01875,
  cache_write_1h: 0.03,
}; // 1.5e-07, 6e-07, 7.5e-08
const GPT_4 = { input: 3, output: 6, cached_input: 3, cache_write: 3.75, cache_write_1h: 6 }; // 3e-05, 6e-05
const CLAUDE_35 = { input: 0.3, output: 1.5, cached_input: 0.03, cache_write: 0.375, cache_write_1h: 0.6 }; // 3e-06, 1.5e-05, 3e-07, 3.75e-06

describe("sync-pricing from a LiteLLM table over HTTP", () => {
  it("prices gpt-4o, gpt-4o-mini, gpt-4 and claude-3-5-sonnet at exactly the source's values, cache included", async () => {
    const w = workspace();
    const run = await sync(w);
    expect(prices.requests.at(-1)).toBe("/litellm.json"); // one fetch serves both providers
    expect(run.stdout).toContain(
      `${prices.url}/litellm.json (litellm, sha256 ${sha256(LITELLM_TEXT).slice(0, 12)}…)`,
    );
    const { table, models } = await show(w);
    expect(models["gpt-4o"]?.prices).toEqual(GPT_4O);
    expect(models["gpt-4o-mini"]?.prices).toEqual(GPT_4O_MINI);
    expect(models["gpt-4"]?.prices).toEqual(GPT_4); // the table wins over estimated_*
    expect(models["claude-3-5-sonnet"]?.prices).toEqual(CLAUDE_35);
    expect(models["gpt-4o"]?.origin).toEqual({
      kind: "table",
      provider: "openai",
      match: { name: "gpt-4o", key: "gpt-4o", kind: "exact" },
      source: {
        source: `${prices.url}/litellm.json`,
        format: "litellm",
        fetched_at: expect.stringMatching(/^\d{4}-/),
        sha256: sha256(LITELLM_TEXT),
      },
    });
    expect(table).toMatchObject({ from: "store", revision: 1, path: store(w), stale: false });
    // the store holds integer micro-cents
    const stored = JSON.parse(readFileSync(store(w), "utf8")) as Parsed;
    expect(stored.entries["gpt-4o"]).toMatchObject({
      input: 250_000,
      output: 1_000_000,
      cached_input: 125_000,
    });
    expect(stored.entries["azure/gpt-4o"]).toBeUndefined();
  });

  it("matches dated variants and provider-prefixed names, and shows the match used", async () => {
    const w = workspace();
    await sync(w);
    const { models } = await show(w);
    expect(models["claude-3-5-sonnet"]?.origin.match).toEqual({
      name: "claude-3-5-sonnet",
      key: "claude-3-5-sonnet-latest",
      kind: "dated_variant",
    });
    expect(models["mini-dated"]?.origin.match).toEqual({
      name: "gpt-4o-mini-2025-01-01",
      key: "gpt-4o-mini",
      kind: "dated_variant",
    });
    expect(models["mini-dated"]?.prices).toEqual(GPT_4O_MINI);
    expect(models["claude-long"]?.origin.match).toEqual({
      name: "claude-4-sonnet-20250514",
      key: "claude-4-sonnet-20250514",
      kind: "exact",
    });
    expect(models["claude-long"]?.prices.tiers).toEqual([
      {
        above_input_tokens: 200_000,
        input: 0.6,
        output: 2.25,
        cached_input: 0.06,
        cache_write: 0.75,
        cache_write_1h: 1.2,
      },
    ]);
  });

  it("reads local files: pricing.sources relative to the config file, --source to the working directory", async () => {
    const w = workspace(MODELS, "");
    writeFileSync(
      w.config,
      w.yaml.replace(`openai: ${prices.url}/litellm.json`, "openai: prices/openai.json"),
    );
    mkdirSync(join(w.dir, "prices"));
    copyFileSync(join(ROOT, "test/fixtures/pricing/litellm.json"), join(w.dir, "prices", "openai.json"));
    const fromConfig = await inProcess(
      ["--config", w.config, "sync-pricing", "--provider", "openai"],
      scratch,
    );
    expect(fromConfig.code, fromConfig.stderr).toBe(0);
    expect(fromConfig.stdout).toContain("prices/openai.json (litellm");
    const { table } = await show(w);
    expect(table.sources.openai.source).toBe("prices/openai.json");
    // --provider openai leaves the anthropic prices where they came from (the bundled snapshot)
    expect(table.sources.anthropic.source).toMatch(/^bundled snapshot/);

    const typed = relative(scratch, join(w.dir, "prices", "openai.json"));
    const fromFlag = await inProcess(
      ["--config", w.config, "sync-pricing", "--source", typed, "--provider", "openai"],
      scratch,
    );
    expect(fromFlag.code, fromFlag.stderr).toBe(0);
    expect((await show(w)).table.sources.openai.source).toBe(join(w.dir, "prices", "openai.json"));
  });
});

describe("sync-pricing from an OpenRouter models list", () => {
  it("prices the same models at the same exact values, matched by their prefixed ids", async () => {
    const w = workspace(MODELS);
    await sync(w, "--source", `${prices.url}/openrouter.json`, "--format", "openrouter");
    const { models, table } = await show(w);
    expect(models["gpt-4o"]?.prices).toEqual(GPT_4O);
    expect(models["gpt-4o-mini"]?.prices).toEqual(GPT_4O_MINI);
    expect(models["gpt-4"]?.prices).toEqual(GPT_4);
    expect(models["claude-3-5-sonnet"]?.prices).toEqual(CLAUDE_35);
    expect(models["gpt-4o"]?.origin.match).toEqual({
      name: "gpt-4o",
      key: "openai/gpt-4o",
      kind: "prefixed",
    });
    expect(models["claude-3-5-sonnet"]?.origin.match).toEqual({
      name: "claude-3-5-sonnet",
      key: "anthropic/claude-3.5-sonnet",
      kind: "prefixed",
    });
    expect(table.sources.openai.format).toBe("openrouter");
  });
});

describe("the diff", () => {
  it("shows old → new per model in cents per 1k, % change, and warns over 50% and for unknown models", async () => {
    const w = workspace();
    await sync(w);
    const run = await sync(w, "--source", `${prices.url}/doubled.json`);
    const out = lines(run.stdout);
    expect(out[1]).toMatch(/^MODEL +ENTRY +INPUT ¢\/1k +OUTPUT ¢\/1k +CACHED ¢\/1k +CHANGE$/);
    expect(out).toContainEqual(
      expect.stringMatching(/^gpt-4o +gpt-4o +0\.25 → 0\.5 +1 → 1\.5 +0\.125 +in \+100%, out \+50%$/),
    );
    expect(out).toContainEqual(
      expect.stringMatching(/^gpt-4o-mini +gpt-4o-mini +0\.015 +0\.06 +0\.0075 +—$/),
    );
    expect(out).toContainEqual(expect.stringMatching(/^mystery +— +1 +2 +1 +—$/));
    expect(out).toContain(
      "! gpt-4o: input price changes by +100% (0.25¢ → 0.5¢ per 1k; also cache write price +100%, 1-hour cache write price +100%)",
    );
    expect(out.filter((l) => l.includes("output price changes"))).toEqual([]); // +50% is not over 50%
    expect(out).toContain("! mystery: not in the source; it stays priced by its config prices");
    expect(out.at(-1)).toMatch(
      /^✓ prices updated: 1 of 7 configured models changed; \d+ entries \(1 changed, 0 new, 0 gone\); revision 2 written to /,
    );
    expect(run.stderr).toBe("");
  });

  it("--json gives the same as data", async () => {
    const w = workspace();
    await sync(w);
    const run = await sync(w, "--json", "--source", `${prices.url}/litellm.json`);
    const unchanged = JSON.parse(run.stdout) as Parsed;
    expect(unchanged).toMatchObject({ written: true, dry_run: false, revision: 2, refusals: [] });
    expect(unchanged.models.every((m: Parsed) => m.changed === false)).toBe(true);
    const changed = JSON.parse(
      (await sync(w, "--json", "--source", `${prices.url}/doubled.json`)).stdout,
    ) as Parsed;
    const row = changed.models.find((m: Parsed) => m.model === "gpt-4o");
    expect(row).toMatchObject({
      changed: true,
      change_pct: { input: 100, output: 50, cached_input: 0 },
      before: { prices: GPT_4O },
      after: { prices: { ...GPT_4O, input: 0.5, output: 1.5, cache_write: 0.625, cache_write_1h: 1 } },
    });
    expect(changed.warnings).toContainEqual(
      expect.objectContaining({ model: "gpt-4o", rule: "large_change" }),
    );
    expect(changed.warnings).toContainEqual(
      expect.objectContaining({ model: "mystery", rule: "not_in_source" }),
    );
    expect(changed.entries).toMatchObject({ changed: 1, added: 0, removed: 0 });
    expect(changed.sources).toEqual([
      expect.objectContaining({
        providers: ["openai", "anthropic"],
        format: "litellm",
        source: `${prices.url}/doubled.json`,
      }),
    ]);
  });

  it("--dry-run shows the diff and writes nothing", async () => {
    const w = workspace();
    const first = await sync(w, "--dry-run");
    expect(lines(first.stdout).at(-1)).toMatch(/^· dry run: nothing written \(.*would be revision 1 of /);
    expect(existsSync(w.data)).toBe(false); // not even the data directory or a lock file
    await sync(w);
    const before = storeBytes(w);
    const again = await sync(w, "--dry-run", "--source", `${prices.url}/doubled.json`);
    expect(again.stdout).toMatch(/gpt-4o +gpt-4o +0\.25 → 0\.5/);
    expect(storeBytes(w)).toEqual(before);
    expect((await show(w)).models["gpt-4o"]?.prices.input).toBe(0.25);
  });
});

describe("failures leave the store byte for byte and exit non-zero", () => {
  beforeAll(() => {
    prices.answers.set("/truncated.json", { text: LITELLM_TEXT.slice(0, 4000) });
    prices.answers.set("/wrong.json", { text: '{"status": "ok", "models": []}' });
    prices.answers.set("/html", { text: "<html><body>Service Unavailable</body></html>" });
    prices.answers.set("/missing.json", {
      text: litellmWith({ "gpt-4o-mini": null, "gpt-4o-mini-2024-07-18": null }),
    });
    prices.answers.set("/zero.json", {
      text: litellmWith({ "gpt-4o": { input_cost_per_token: 0, output_cost_per_token: 0 } }),
    });
    prices.answers.set("/tenfold.json", {
      text: litellmWith({ "gpt-4": { input_cost_per_token: 0.0006, output_cost_per_token: 0.0012 } }),
    });
    prices.answers.set("/cache-collapse.json", {
      text: litellmWith({
        "claude-4-sonnet-20250514": {
          cache_read_input_token_cost: 1e-12,
          cache_creation_input_token_cost: 1e-12,
        },
      }),
    });
    const openaiOnly = JSON.parse(LITELLM_TEXT) as Record<string, Parsed>;
    for (const [k, v] of Object.entries(openaiOnly))
      if (v.litellm_provider === "anthropic") delete openaiOnly[k];
    prices.answers.set("/openai-only.json", { text: JSON.stringify(openaiOnly) });
  });

  const cases: [string, string[], number, RegExp][] = [
    [
      "HTTP 500",
      ["--source", "{url}/500"],
      9,
      /^tokenpak: cannot fetch http:\/\/127\.0\.0\.1:\d+\/500: HTTP 500$/,
    ],
    [
      "a timeout",
      ["--source", "{url}/hang"],
      9,
      /^tokenpak: cannot fetch .*\/hang: no complete answer within 0\.5 s$/,
    ],
    [
      "a refused connection",
      ["--source", "http://127.0.0.1:9/x.json"],
      9,
      /^tokenpak: cannot fetch .*: ECONNREFUSED/,
    ],
    [
      "a file that is not there",
      ["--source", "nope.json"],
      9,
      /^tokenpak: cannot fetch \/\S+\/nope\.json: ENOENT$/,
    ],
    [
      "a scheme it cannot read",
      ["--source", "ftp://prices.example.com/p.json"],
      9,
      /^tokenpak: cannot fetch ftp:\/\/prices\.example\.com\/p\.json: ftp: is not supported \(http:, https:, file: or a local path\)$/,
    ],
    [
      "truncated JSON",
      ["--source", "{url}/truncated.json"],
      10,
      /truncated\.json is not valid JSON \(truncated\)$/,
    ],
    [
      "not JSON at all",
      ["--source", "{url}/html"],
      10,
      /\/html is not valid JSON \(an unexpected character\)$/,
    ],
    [
      "JSON of neither format",
      ["--source", "{url}/wrong.json"],
      10,
      /wrong\.json is in neither known format/,
    ],
    [
      "the wrong format for --format",
      ["--source", "{url}/openrouter.json", "--format", "litellm"],
      10,
      /openrouter\.json is not a LiteLLM price table \(it looks like an OpenRouter models list/,
    ],
    [
      "no models of a provider asked for",
      ["--source", "{url}/openai-only.json"],
      10,
      /has no anthropic models/,
    ],
    [
      "a document missing configured models",
      ["--source", "{url}/missing.json"],
      11,
      /^tokenpak: sync-pricing refused: gpt-4o-mini: the source no longer has a price for it \(it was priced from gpt-4o-mini\) \(and 1 more\); the price table is unchanged$/,
    ],
    [
      "a zero price",
      ["--source", "{url}/zero.json"],
      11,
      /refused: gpt-4o: the source prices it at \$0; pass --allow-zero to accept it; the price table is unchanged$/,
    ],
    [
      "a 20× jump",
      ["--source", "{url}/tenfold.json"],
      11,
      /gpt-4: input price would change more than 10× at once, 3¢ → 60¢ per 1k \(also output price, cached input price, cache write price, 1-hour cache write price\); pass --force/,
    ],
    [
      "cache prices collapsing 30,000×",
      ["--source", "{url}/cache-collapse.json"],
      11,
      /refused: claude-long: cached input price would change more than 10× at once, 0\.03¢ → 0\.000001¢ per 1k \(also cache write price\); pass --force to accept it; the price table is unchanged$/,
    ],
    ["an unknown --provider", ["--provider", "azure"], 2, /argument 'azure' is invalid/],
  ];

  it.each(cases)("%s", async (_name, args, code, message) => {
    const w = workspace();
    await sync(w);
    const before = storeBytes(w);
    const run = await cli(w, "sync-pricing", ...args.map((a) => a.replace("{url}", prices.url)));
    expect(run.code, run.stderr).toBe(code);
    expect(lines(run.stderr).at(-1)).toMatch(message);
    expect(storeBytes(w)).toEqual(before);
    expect(readdirSync(w.data)).toEqual(["pricing.json"]); // no temp file, no lock left
    expect((await show(w)).table.revision).toBe(1);
  });

  it("--quiet: nothing but the one line, on stderr", async () => {
    const w = workspace();
    await sync(w);
    const run = await cli(w, "sync-pricing", "--quiet", "--source", `${prices.url}/zero.json`);
    expect(run.code).toBe(11);
    expect(run.stdout).toBe("");
    expect(lines(run.stderr)).toHaveLength(1);
  });

  it("--json: the refusal is in the one JSON document, with the exit code", async () => {
    const w = workspace();
    await sync(w);
    const run = await cli(w, "sync-pricing", "--json", "--source", `${prices.url}/zero.json`);
    expect(run.code).toBe(11);
    const out = JSON.parse(run.stdout) as Parsed;
    expect(out).toMatchObject({ written: false, error: { code: "pricing_refused" } });
    expect(out.refusals).toEqual([
      expect.objectContaining({ model: "gpt-4o", rule: "zero_price", override: "--allow-zero" }),
    ]);
  });

  it("--allow-zero and --force accept what they name, and only that", async () => {
    const w = workspace();
    await sync(w);
    expect((await cli(w, "sync-pricing", "--force", "--source", `${prices.url}/zero.json`)).code).toBe(11);
    const zero = await sync(w, "--allow-zero", "--source", `${prices.url}/zero.json`);
    expect(zero.stdout).toContain("! gpt-4o: the source prices it at $0 (accepted: --allow-zero)");
    expect((await show(w)).models["gpt-4o"]?.prices.input).toBe(0);
    expect(
      (await cli(w, "sync-pricing", "--allow-zero", "--source", `${prices.url}/tenfold.json`)).code,
    ).toBe(11);
    await sync(w, "--force", "--source", `${prices.url}/tenfold.json`);
    expect((await show(w)).models["gpt-4"]?.prices).toMatchObject({ input: 60, output: 120 });
  });
});

describe("pricing show", () => {
  it("lists every configured model's prices and where each comes from", async () => {
    const w = workspace();
    await sync(w);
    const run = await cli(w, "pricing", "show");
    expect(run.code, run.stderr).toBe(0);
    const out = lines(run.stdout);
    expect(out[0]).toBe(`Prices in cents per 1k tokens. Table: synced table ${store(w)} (revision 1)`);
    expect(out[1]).toMatch(
      new RegExp(`^  openai: ${prices.url}/litellm\\.json \\(litellm\\), fetched \\d{4}-`),
    );
    expect(out).toContainEqual(
      expect.stringMatching(
        /^gpt-4o +0\.25 +1 +0\.125 +0\.3125 +0\.5 +— +— +table \(openai, fetched \S+\): gpt-4o, exact$/,
      ),
    );
    expect(out).toContainEqual(
      expect.stringMatching(
        /^claude-long +0\.3 +1\.5 +0\.03 +0\.375 +0\.6 +— +>200k: 0\.6\/2\.25\/0\.06\/0\.75 +table \(anthropic, fetched \S+\): claude-4-sonnet-20250514, exact$/,
      ),
    );
    expect(out).toContainEqual(
      expect.stringMatching(
        /^claude-3-5-sonnet .*: claude-3-5-sonnet-latest, dated variant, same price for claude-3-5-sonnet$/,
      ),
    );
    expect(out).toContainEqual(
      expect.stringMatching(/^mystery +1 +2 +1 +1\.25 +2 +— +— +config \(estimated_\*\)$/),
    );
  });

  it("MODEL narrows it to one; an unconfigured one is an error naming those that are", async () => {
    const w = workspace();
    const one = JSON.parse((await cli(w, "pricing", "show", "gpt-4", "--json")).stdout) as Parsed;
    expect(one.models.map((m: Parsed) => m.model)).toEqual(["gpt-4"]);
    expect(one.table.from).toBe("bundled");
    const bad = await cli(w, "pricing", "show", "gpt-5");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(
      /^tokenpak: model gpt-5 is not configured \(configured: gpt-4o, gpt-4o-mini, /,
    );
  });

  it("a model without a price says it is refused, and validate-config warns where it is", async () => {
    const w = workspace(`${MODELS}\n  nowhere: { provider: openai }`);
    const run = await cli(w, "pricing", "show", "nowhere");
    expect(lines(run.stdout).at(-1)).toMatch(/^nowhere +— .* refused: model nowhere has no input price/);
    const check = await cli(w, "validate-config");
    expect(check.code).toBe(0);
    const out = lines(check.stdout);
    expect(out.find((l) => l.startsWith("✓ Models:"))).toContain(
      "gpt-4o → openai (0.25¢ in, 1¢ out per 1k, price table: gpt-4o), gpt-4o-mini → openai (0.015¢ in, 0.06¢ out per 1k, price table: gpt-4o-mini)",
    );
    expect(out.find((l) => l.startsWith("✓ Models:"))).toContain(
      "mystery → openai (1¢ in, 2¢ out per 1k, config)",
    );
    expect(out.find((l) => l.startsWith("✓ Models:"))).toContain("nowhere → openai (no price: refused)");
    expect(out).toContainEqual(
      expect.stringMatching(
        /^! tokenpak\.yaml:\d+:3 {2}models\.nowhere {2}model nowhere has no price: .*refused \(run tokenpak sync-pricing/,
      ),
    );
    const json = JSON.parse((await cli(w, "validate-config", "--json")).stdout) as Parsed;
    expect(json.summary.models.find((m: Parsed) => m.name === "gpt-4o").effective).toEqual({
      input_cost_per_1k: 0.25,
      output_cost_per_1k: 1,
      from: "table",
      entry: "gpt-4o",
    });
  });
});

describe("an unreadable store", () => {
  it("validate-config, pricing show and the proxy all price from the bundled snapshot, and say why", async () => {
    const w = workspace(MODELS);
    mkdirSync(w.data, { recursive: true });
    writeFileSync(store(w), '{"version": 1, "entries": {');

    const check = await cli(w, "validate-config");
    expect(check.code).toBe(0);
    const out = lines(check.stdout);
    // not "no price: refused": the proxy would charge the snapshot's prices
    expect(out.find((l) => l.startsWith("✓ Models:"))).toContain(
      "gpt-4o → openai (0.25¢ in, 1¢ out per 1k, price table: gpt-4o)",
    );
    expect(check.stdout).not.toContain("no price");
    expect(out).toContainEqual(
      expect.stringMatching(
        /^! tokenpak\.yaml:\d+:1 {2}pricing {2}\S+pricing\.json is not valid JSON \(truncated\): a proxy starting now prices from the bundled snapshot/,
      ),
    );

    const shown = await cli(w, "pricing", "show", "--json");
    expect(shown.code, shown.stderr).toBe(0);
    const json = JSON.parse(shown.stdout) as Parsed;
    expect(json.table).toMatchObject({
      from: "bundled",
      unreadable: expect.stringContaining("pricing.json"),
    });
    expect(json.models.find((m: Parsed) => m.model === "gpt-4o").prices).toEqual(GPT_4O);
    const text = await cli(w, "pricing", "show");
    expect(lines(text.stdout)[0]).toBe(
      "Prices in cents per 1k tokens. Table: bundled snapshot (the synced table cannot be read)",
    );
    expect(text.stderr).toMatch(
      /^! \S+pricing\.json is not valid JSON .*a proxy starting now prices from the bundled snapshot/,
    );

    const warnings: string[] = [];
    const proxy = await startProxy({
      config: configFrom(w.yaml),
      dataDir: w.data,
      port: 0,
      warn: (m) => warnings.push(m),
    });
    proxies.push(proxy);
    expect(warnings).toContainEqual(
      expect.stringMatching(/^pricing: \S+pricing\.json is not valid JSON .*; using the bundled prices$/),
    );
    fake.next.push({ kind: "usage", usage: usage1k });
    const res = await post(proxy, "/v1/chat/completions", { model: "gpt-4o", messages: hello });
    expect(res.body.cost_cents).toBe(1.25); // 1000 × 0.25¢ + 1000 × 1¢, as shown
  });
});

describe("the CLI as a subprocess (cron)", () => {
  function tokenpak(args: string[]): Promise<Run> {
    return new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        [join(ROOT, "bin", "tokenpak.js"), ...args],
        {
          cwd: scratch,
          env: { PATH: process.env.PATH ?? "", HOME: scratch, NO_COLOR: "1" },
          encoding: "utf8",
          timeout: 15_000,
        },
        (e, stdout, stderr) => {
          if (e && typeof e.code !== "number") reject(e);
          else resolve({ code: typeof e?.code === "number" ? e.code : 0, stdout, stderr });
        },
      );
    });
  }

  it("--quiet is silent on success, one stderr line and a non-zero exit on failure", async () => {
    const w = workspace();
    const ok = await tokenpak(["sync-pricing", "--config", w.config, "--provider", "openai", "--quiet"]);
    expect(ok).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(existsSync(store(w))).toBe(true);
    const before = storeBytes(w);
    const failed = await tokenpak([
      "sync-pricing",
      "--config",
      w.config,
      "--quiet",
      "--source",
      `${prices.url}/500`,
    ]);
    expect(failed.code).toBe(9);
    expect(failed.stdout).toBe("");
    expect(failed.stderr).toBe(`tokenpak: cannot fetch ${prices.url}/500: HTTP 500\n`);
    expect(storeBytes(w)).toEqual(before);
  });

  it("--help documents the flags and exit codes", async () => {
    const help = await tokenpak(["sync-pricing", "--help"]);
    expect(help.code).toBe(0);
    for (const flag of [
      "--provider <provider>",
      "--source <url|file>",
      "--format <format>",
      "--dry-run",
      "--allow-zero",
      "--force",
      "--quiet",
    ])
      expect(help.stdout).toContain(flag);
    expect(help.stdout).toContain("--json (global) prints the same as data");
    // generated from the one table: an invalid --provider exits 2, and the help says so
    const text = help.stdout.replaceAll("\n", " ");
    expect(text).toContain("2 usage error (an unknown option, an invalid choice)");
    expect(text).toContain("9 the price source could not be fetched");
    expect(text).not.toContain("1 bad config or arguments");
    expect((await tokenpak(["sync-pricing", "--provider", "azure"])).code).toBe(2);
    const show = await tokenpak(["pricing", "show", "--help"]);
    expect(show.stdout).toContain("--json (global) prints {table:");
    expect(show.stdout.replaceAll("\n", " ")).toContain("Exit codes: 0 success, 1 invalid input");
  });
});

// ---------------------------------------------------------------------------
// The daemon
// ---------------------------------------------------------------------------

async function daemon(w: Workspace, clock?: () => number): Promise<RunningProxy> {
  const proxy = await startProxy({
    config: configFrom(w.yaml),
    dataDir: w.data,
    port: 0,
    ...(clock ? { clock } : {}),
  });
  proxies.push(proxy);
  return proxy;
}

async function post(
  proxy: RunningProxy,
  path: string,
  body: unknown,
): Promise<{ status: number; body: Parsed; cost: string | null }> {
  const res = await fetch(`${proxy.url}${path}`, {
    method: "POST",
    headers: { authorization: "Bearer alice", "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    body: (await res.json()) as Parsed,
    cost: res.headers.get("x-tokenpak-cost-cents"),
  };
}

const hello = [{ role: "user", content: "hi" }];
const usage1k = { prompt_tokens: 1000, completion_tokens: 1000 };

async function health(proxy: RunningProxy): Promise<Parsed> {
  return (await (await fetch(`${proxy.url}/healthz`)).json()) as Parsed;
}

describe("a running proxy", () => {
  it("prices the next request with the new table after a sync, without a restart", async () => {
    const w = workspace();
    const proxy = await daemon(w);
    fake.next.push({ kind: "usage", usage: usage1k });
    const before = await post(proxy, "/v1/chat/completions", { model: "gpt-4o", messages: hello });
    expect(before.status).toBe(200);
    expect(before.body.cost_cents).toBe(1.25); // bundled: 1000 × 0.25¢ + 1000 × 1¢ per 1k
    expect((await health(proxy)).pricing).toMatchObject({ revision: 0, stale: expect.any(Boolean) });

    await sync(w, "--source", `${prices.url}/doubled.json`);
    const deadline = Date.now() + 5000;
    while ((await health(proxy)).pricing.revision !== 1 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(await health(proxy)).toMatchObject({
      ok: true,
      pricing: {
        source: `${prices.url}/doubled.json`,
        fetched_at: expect.stringMatching(/^\d{4}-/),
        stale: false,
        revision: 1,
      },
    });

    fake.next.push({ kind: "usage", usage: usage1k });
    const after = await post(proxy, "/v1/chat/completions", { model: "gpt-4o", messages: hello });
    expect(after.body.cost_cents).toBe(2); // 1000 × 0.5¢ + 1000 × 1.5¢
    expect(after.cost).toBe("2");
  });

  it("a store that cannot be read is not picked up: the prices in force stay", async () => {
    const w = workspace();
    const warnings: string[] = [];
    const proxy = await startProxy({
      config: configFrom(w.yaml),
      dataDir: w.data,
      port: 0,
      warn: (m) => warnings.push(m),
    });
    proxies.push(proxy);
    writeFileSync(store(w), '{"version": 1, "entries": {"gpt-4o": {"input": "free"}}}');
    proxy.prices.reload();
    expect(warnings.at(-1)).toMatch(
      /pricing\.json is not a tokenpak price table: .*; using the prices in force$/,
    );
    fake.next.push({ kind: "usage", usage: usage1k });
    expect(
      (await post(proxy, "/v1/chat/completions", { model: "gpt-4o", messages: hello })).body.cost_cents,
    ).toBe(1.25);
  });

  it("prices a 250k-token request at the long-context tier, in the reservation and the settle", async () => {
    const w = workspace();
    await sync(w); // claude-4-sonnet-20250514 from the served table: > 200k input at 0.6¢ / 2.25¢
    const proxy = await daemon(w);
    const body = {
      model: "claude-long",
      max_tokens: 2000,
      messages: [{ role: "user", content: " hello".repeat(170_000) }],
    };
    const estimate = estimateMessagesInput(body, "other");
    expect(estimate).toBeGreaterThan(200_000);
    fake.next.push({ kind: "usage", usage: { input_tokens: 250_000, output_tokens: 1000 } });
    const long = await post(proxy, "/v1/messages", body);
    expect(long.status, JSON.stringify(long.body)).toBe(200);
    expect(long.body.cost_cents).toBe(152.25); // 250 × 0.6¢ + 1 × 2.25¢, not 250 × 0.3¢ + 1 × 1.5¢ = 76.5¢

    fake.next.push({ kind: "usage", usage: { input_tokens: 1000, output_tokens: 1000 } });
    const short = await post(proxy, "/v1/messages", { ...body, messages: hello });
    expect(short.body.cost_cents).toBe(1.8); // 1 × 0.3¢ + 1 × 1.5¢

    const [first] = settleEntries(w.data);
    expect(first?.cost).toBe(152_250_000);
    // the reservation: the estimated input and max_tokens, both at the tier's prices
    expect(first?.reserved).toBe(
      Math.ceil((estimate * 600_000) / 1000) + Math.ceil((2000 * 2_250_000) / 1000),
    );
  });

  it("holds a hard cap when the estimate is just under a long-context threshold and the bill just over it", async () => {
    const body = {
      model: "claude-long",
      max_tokens: 2000,
      messages: [{ role: "user", content: " hello".repeat(156_000) }],
    };
    const estimate = estimateMessagesInput(body, "other");
    // within 10% under the 200k threshold of claude-4-sonnet-20250514
    expect(estimate).toBeGreaterThan(200_000 / 1.1);
    expect(estimate).toBeLessThanOrEqual(200_000);
    const billed = { input_tokens: 201_000, output_tokens: 100 }; // over it: all at 0.6¢ / 2.25¢
    const atTier = Math.ceil((estimate * 600_000) / 1000) + Math.ceil((2000 * 2_250_000) / 1000);
    const budget = (cents: number) => `budget:\n  daily_limit_cents: ${cents}\n  reject_on_exceed: true\n`;

    // $1.00: at the tier the worst case (~121¢) does not fit; at the base rates (~61.5¢) it did, and settled at 120.8¢
    const tight = workspace(MODELS + CLAUDE_LONG, budget(100));
    await sync(tight);
    const refused = await post(await daemon(tight), "/v1/messages", body);
    expect(refused.status).toBe(402);
    expect(settleEntries(tight.data)).toEqual([]);

    // $2.00: served, reserved at the tier, settled within the reservation and the cap
    const roomy = workspace(MODELS + CLAUDE_LONG, budget(200));
    await sync(roomy);
    const proxy = await daemon(roomy);
    fake.next.push({ kind: "usage", usage: billed });
    const served = await post(proxy, "/v1/messages", body);
    expect(served.status, JSON.stringify(served.body)).toBe(200);
    const [entry] = settleEntries(roomy.data);
    expect(entry?.reserved).toBe(atTier);
    expect(entry?.cost).toBe(201 * 600_000 + Math.ceil((100 * 2_250_000) / 1000)); // 120.825¢
    expect(entry?.cost).toBeLessThanOrEqual(atTier);
    expect(entry?.cost).toBeLessThanOrEqual(200 * 1_000_000);
  });

  it("says when its table is stale, in /healthz and with one pricing_stale alert per staleness episode", async () => {
    const w = workspace(MODELS);
    await sync(w);
    const fetched = Date.parse((await show(w)).table.sources.openai.fetched_at);
    let now = fetched + 49 * HOUR;
    const clock = () => now;
    const alertsLog = () =>
      readFileSync(join(w.data, "alerts.log"), "utf8")
        .split("\n")
        .filter((l) => l.includes("pricing_stale"));

    let proxy = await daemon(w, clock);
    expect(proxy.pricingStale).toMatch(
      /^prices of gpt-4o, gpt-4o-mini, gpt-4 and 2 more come from http:\/\/127\.0\.0\.1:\d+\/litellm\.json, fetched .*older than pricing\.stale_after_hours \(48 h\); run tokenpak sync-pricing$/,
    );
    expect((await health(proxy)).pricing).toMatchObject({
      stale: true,
      fetched_at: new Date(fetched).toISOString(),
    });
    await proxy.alerts.settled();
    expect(alertsLog()).toHaveLength(1);
    expect(alertsLog()[0]).toMatch(/ALERT pricing_stale /);

    // a restart in the same episode does not alert again
    await proxy.close();
    proxies.splice(proxies.indexOf(proxy), 1);
    proxy = await daemon(w, clock);
    await proxy.alerts.settled();
    expect(alertsLog()).toHaveLength(1);

    // a sync ends the episode; the next table going stale is a new one
    now = Date.now() + 49 * HOUR;
    await sync(w);
    const deadline = Date.now() + 5000;
    while ((await health(proxy)).pricing.revision !== 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    await proxy.alerts.settled();
    expect(alertsLog()).toHaveLength(2);
    now = Date.now();
    expect((await health(proxy)).pricing.stale).toBe(false);
  });
});

describe("staleness counts only the providers that price a configured model", () => {
  /** A store as a month of nothing but `sync-pricing --provider openai` leaves it: anthropic still the bundled snapshot, a month old. */
  function monthOldStore(w: Workspace): void {
    const bundled = bundledTable();
    const monthAgo = new Date(Date.now() - 30 * 24 * HOUR).toISOString();
    const sources = Object.fromEntries(
      Object.entries(bundled.sources).map(([p, info]) => [p, { ...info, fetched_at: monthAgo }]),
    );
    writeStore(w.data, { ...bundled, revision: 1, updated_at: monthAgo, sources });
  }
  const OPENAI_ONLY = `
  gpt-4o: { provider: openai }
  gpt-4: { provider: openai }`;

  it("an openai-only config synced with --provider openai is not stale: /healthz, start line, alert, metric", async () => {
    const w = workspace(OPENAI_ONLY);
    monthOldStore(w);
    await sync(w, "--provider", "openai"); // the recipe's cron line
    const proxy = await daemon(w);
    expect(proxy.pricingStale).toBeUndefined();
    expect((await health(proxy)).pricing).toEqual({
      source: `${prices.url}/litellm.json`,
      fetched_at: expect.stringMatching(/^\d{4}-/),
      stale: false,
      revision: 2,
    });
    const metrics = await (await fetch(`${proxy.url}/metrics`)).text();
    expect(metrics).toMatch(/^tokenpak_pricing_stale 0$/m);
    expect((await show(w)).table.stale).toBe(false);
    await proxy.alerts.settled();
    const log = join(w.data, "alerts.log");
    expect(existsSync(log) ? readFileSync(log, "utf8") : "").not.toContain("pricing_stale");
  });

  it("a configured anthropic model priced from the month-old snapshot is stale, and only it is named", async () => {
    const w = workspace(`${OPENAI_ONLY}\n  claude-3-5-sonnet: { provider: anthropic }`);
    monthOldStore(w);
    await sync(w, "--provider", "openai");
    const proxy = await daemon(w);
    expect(proxy.pricingStale).toMatch(
      /^prices of claude-3-5-sonnet come from bundled snapshot .*: older than pricing\.stale_after_hours \(48 h\); run tokenpak sync-pricing$/,
    );
    expect((await health(proxy)).pricing).toMatchObject({
      source: expect.stringMatching(/^bundled snapshot/),
      stale: true,
    });
    expect(await (await fetch(`${proxy.url}/metrics`)).text()).toMatch(/^tokenpak_pricing_stale 1$/m);
    expect((await show(w)).table.stale).toBe(true);
  });
});

describe("offline, from the bundled snapshot", () => {
  const recipe = (): Config => {
    const config = configFrom(readFileSync(join(ROOT, "examples/config.yaml"), "utf8"), {
      OPENAI_API_KEY: "sk-test",
    });
    // The recipe's own base URL is OpenAI's: point it at the fake upstream (no network in tests).
    return {
      ...config,
      providers: {
        openai: { ...config.providers?.openai, type: "openai", base_url: `${fake.url}/v1`, timeout_ms: 5000 },
      },
    };
  };

  it("prices the recipe's gpt-4 and gpt-3.5-turbo with nothing synced", async () => {
    const dataDir = mkdtempSync(join(scratch, "recipe-"));
    const proxy = await startProxy({ config: recipe(), dataDir, port: 0 });
    proxies.push(proxy);
    expect((await health(proxy)).pricing).toMatchObject({
      source: expect.stringMatching(/^bundled snapshot/),
      revision: 0,
    });
    fake.next.push({ kind: "usage", usage: usage1k });
    expect(
      (await post(proxy, "/v1/chat/completions", { model: "gpt-4", messages: hello })).body.cost_cents,
    ).toBe(9);
    fake.next.push({ kind: "usage", usage: usage1k });
    // the snapshot's 0.15¢ / 0.2¢ beat the recipe's (stale) estimates of 0.5¢ / 1.5¢
    expect(
      (await post(proxy, "/v1/chat/completions", { model: "gpt-3.5-turbo", messages: hello })).body
        .cost_cents,
    ).toBe(0.35);
    expect(readdirSync(dataDir)).not.toContain("pricing.json");
  });

  it("prices the demo (mock provider) by its config, and never calls its snapshot stale", async () => {
    const dataDir = mkdtempSync(join(scratch, "demo-"));
    const config = configFrom(readFileSync(join(ROOT, "examples/demo.yaml"), "utf8"));
    const proxy = await startProxy({ config, dataDir, port: 0, clock: () => Date.now() + 365 * 24 * HOUR });
    proxies.push(proxy);
    expect(proxy.pricingStale).toBeUndefined(); // nothing it serves is priced from the table
    expect((await health(proxy)).pricing).toMatchObject({
      source: expect.stringMatching(/^bundled/),
      stale: false,
    });
    const res = await post(proxy, "/v1/chat/completions", { model: "demo-large", messages: hello });
    expect(res.status).toBe(200);
    const { prompt_tokens, completion_tokens } = res.body.usage as {
      prompt_tokens: number;
      completion_tokens: number;
    };
    expect(res.body.cost_cents).toBe((prompt_tokens * 3 + completion_tokens * 6) / 1000);
    await proxy.alerts.settled();
    const log = existsSync(join(dataDir, "alerts.log"))
      ? readFileSync(join(dataDir, "alerts.log"), "utf8")
      : "";
    expect(log).not.toContain("pricing_stale");
  });

  it("pricing show says the recipe's prices come from the bundled snapshot", async () => {
    const dataDir = mkdtempSync(join(scratch, "show-"));
    const args = ["--config", "examples/config.yaml", "--data-dir", dataDir, "pricing", "show", "--json"];
    const { code, stdout } = await inProcess(args, ROOT, { OPENAI_API_KEY: "sk-test" });
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as Parsed;
    expect(out.table.from).toBe("bundled");
    expect(out.models).toEqual([
      expect.objectContaining({
        model: "gpt-4",
        prices: GPT_4,
        origin: expect.objectContaining({ kind: "table" }),
      }),
      expect.objectContaining({
        model: "gpt-3.5-turbo",
        prices: { input: 0.15, output: 0.2, cached_input: 0.15, cache_write: 0.1875, cache_write_1h: 0.3 },
      }),
    ]);
  });
});
