// Drives the built CLI (bin/tokenpak.js → dist/) as a subprocess, the way a
// user runs it. `npm test` builds before it runs vitest.
import { type ExecFileException, execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exitCodesHelp } from "../src/cli/exit-codes.js";
import { INVALID_FIXTURES } from "./invalid-fixtures.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = join(ROOT, "bin", "tokenpak.js");
const ESC = "\u001b[";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let home: string;
let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "tokenpak-cli-test-"));
  home = mkdtempSync(join(tmpdir(), "tokenpak-cli-home-"));
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

/**
 * Runs `node bin/tokenpak.js ...args` with a controlled environment: PATH,
 * HOME and NO_COLOR=1 only (no OPENAI_API_KEY, no TOKENPAK_*), plus `env`;
 * an `undefined` in `env` removes a variable.
 */
function tokenpak(
  args: readonly string[],
  options: { env?: Record<string, string | undefined>; cwd?: string } = {},
): Promise<Run> {
  const merged: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    HOME: home,
    NO_COLOR: "1",
    ...options.env,
  };
  const env = Object.fromEntries(
    Object.entries(merged).filter((e): e is [string, string] => e[1] !== undefined),
  );
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: options.cwd ?? ROOT, env, encoding: "utf8", timeout: 15_000 },
      (error: ExecFileException | null, stdout: string, stderr: string) => {
        if (error && typeof error.code !== "number") reject(error);
        else resolve({ code: typeof error?.code === "number" ? error.code : 0, stdout, stderr });
      },
    );
  });
}

const lines = (text: string) => text.split("\n").filter((l) => l !== "");

/** No stack trace and nothing that looks like one. */
function expectNoStackTrace(run: Run): void {
  for (const text of [run.stdout, run.stderr]) {
    expect(text).not.toMatch(/^\s+at /m);
    expect(text).not.toMatch(/\b(TypeError|ReferenceError|Error):/);
    expect(text).not.toContain("node:internal");
  }
}

const RECIPE = "examples/config.yaml";
const RECIPE_LINES = [
  "✓ Config valid",
  "✓ Budget tracking enabled (daily: $10.00, monthly: $200.00)",
  "✓ Per-user limits: user-a ($3.00/day), user-b ($5.00/day)",
];

describe("tokenpak validate-config on the recipe's config", () => {
  it("prints the recipe's ✓ lines first, in order, and exits 0", async () => {
    const run = await tokenpak(["validate-config", RECIPE], { env: { OPENAI_API_KEY: "sk-real-key" } });
    expect(run.code).toBe(0);
    const out = lines(run.stdout);
    expect(out.slice(0, 3)).toEqual(RECIPE_LINES);
    // Then one line per other configured scope, and the open-mode warning.
    expect(out).toContain("✓ Providers: openai (openai)");
    expect(out.some((l) => l.startsWith("✓ Models: gpt-4 → openai"))).toBe(true);
    expect(out.at(-1)).toMatch(/^! examples\/config\.yaml:\d+:\d+ {2}keys {2}no client keys configured/);
    expect(run.stderr).toBe("");
    // The secret is never echoed.
    expect(run.stdout).not.toContain("sk-real-key");
  });

  it("fails without OPENAI_API_KEY, naming the variable, exit 1", async () => {
    const run = await tokenpak(["validate-config", RECIPE]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(lines(run.stderr)).toEqual([
      "✗ examples/config.yaml:28:14  providers.openai.api_key  environment variable OPENAI_API_KEY is not set (export OPENAI_API_KEY=… or write ${OPENAI_API_KEY:-default})",
      "✗ Config invalid: 1 error in examples/config.yaml",
    ]);
    expectNoStackTrace(run);
  });

  it("validates demo.yaml and full.yaml with no environment at all", async () => {
    for (const file of ["examples/demo.yaml", "examples/full.yaml"]) {
      const run = await tokenpak(["validate-config", file]);
      expect(run.code, `${file}: ${run.stderr}`).toBe(0);
      expect(lines(run.stdout)[0]).toBe("✓ Config valid");
    }
  });
});

describe("invalid configs: FILE:LINE:COL  json.path  message, exit 1", () => {
  // One line per problem, then the count.
  const PROBLEM_LINE = /^[✗!] \S+:\d+:\d+ {2}\S+ {2}\S.*$/;

  it.concurrent.each(INVALID_FIXTURES)("$file", async (fixture) => {
    const file = `test/fixtures/invalid/${fixture.file}`;
    const run = await tokenpak(["validate-config", file]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    const err = lines(run.stderr);
    expect(err.at(-1)).toBe(`✗ Config invalid: 1 error in ${file}`);
    const problems = err.slice(0, -1);
    for (const l of problems) expect(l).toMatch(PROBLEM_LINE);
    const [first] = problems;
    expect(first?.startsWith(`✗ ${file}:${fixture.line}:${fixture.col}  ${fixture.path}  `)).toBe(true);
    expect(first).toContain(fixture.message);
    if (fixture.hint !== undefined) {
      // The hint follows the message, in parentheses.
      expect(first).toMatch(/ \(.+\)$/);
      expect(first?.indexOf(fixture.hint)).toBeGreaterThan(first?.indexOf(fixture.message) ?? 0);
    }
    expectNoStackTrace(run);
  });

  it("shows a path relative to the working directory as given, an outside one in full", async () => {
    const absolute = join(ROOT, "test/fixtures/invalid/wrong-type.yaml");
    const run = await tokenpak(["validate-config", absolute], { cwd: scratch });
    expect(run.code).toBe(1);
    expect(lines(run.stderr)[0]).toMatch(
      new RegExp(
        `^✗ ${absolute.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:3:22 {2}budget\\.daily_limit_cents {2}`,
      ),
    );
  });
});

describe("--json", () => {
  it("valid: {valid, file, errors, warnings, summary}", async () => {
    const run = await tokenpak(["--json", "validate-config", RECIPE], { env: { OPENAI_API_KEY: "sk-x" } });
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(Object.keys(out).sort()).toEqual(["errors", "file", "summary", "valid", "warnings"]);
    expect(out.valid).toBe(true);
    expect(out.file).toBe(RECIPE);
    expect(out.errors).toEqual([]);
    expect(out.warnings).toEqual([
      expect.objectContaining({ severity: "warning", path: "keys", line: expect.any(Number) }),
    ]);
    expect(out.summary.budget).toMatchObject({
      enabled: true,
      daily_limit_cents: 1000,
      monthly_limit_cents: 20000,
      alert_thresholds_pct: [80],
      fallback_model: "gpt-3.5-turbo",
    });
    expect(out.summary.users).toEqual([
      { user: "user-a", daily_limit_cents: 300 },
      { user: "user-b", daily_limit_cents: 500 },
    ]);
    expect(out.summary.open_mode).toBe(true);
    // Data, not decoration: no ✓ lines, no colour.
    expect(run.stdout).not.toContain("✓");
  });

  it("invalid: valid false, errors with line/col/path/message/hint, summary null, exit 1", async () => {
    const run = await tokenpak(["validate-config", "--json", "test/fixtures/invalid/unknown-key-typo.yaml"]);
    expect(run.code).toBe(1);
    const out = JSON.parse(run.stdout);
    expect(Object.keys(out).sort()).toEqual(["errors", "file", "summary", "valid", "warnings"]);
    expect(out).toMatchObject({
      valid: false,
      file: "test/fixtures/invalid/unknown-key-typo.yaml",
      summary: null,
    });
    expect(out.errors).toEqual([
      {
        severity: "error",
        path: "budget.daily_limt_cents",
        line: 4,
        col: 3,
        message: "unknown key `daily_limt_cents`",
        hint: "did you mean `daily_limit_cents`?",
      },
    ]);
    expect(Array.isArray(out.warnings)).toBe(true);
    expect(run.stderr).toBe("");
  });

  it("a missing file is a JSON error on stdout, exit 1", async () => {
    const run = await tokenpak(["--json", "validate-config", "no-such-file.yaml"]);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toEqual({
      error: { code: "config_not_found", message: expect.stringContaining("no-such-file.yaml") },
    });
  });

  it("summary.data_dir follows --data-dir, then storage.path, then $TOKENPAK_HOME, then ~/.tokenpak", async () => {
    const env = { OPENAI_API_KEY: "sk-x" };
    const dataDir = async (args: string[], extra: Record<string, string> = {}) => {
      const run = await tokenpak(["--json", ...args, "validate-config"], { env: { ...env, ...extra } });
      expect(run.code, run.stderr).toBe(0);
      return JSON.parse(run.stdout).summary.data_dir as string;
    };
    const explicit = join(scratch, "explicit");
    expect(await dataDir(["--data-dir", explicit, "--config", RECIPE])).toBe(explicit);
    // demo.yaml has storage.path: ../.tokenpak/demo, relative to the file.
    expect(await dataDir(["--config", "examples/demo.yaml"])).toBe(join(ROOT, ".tokenpak", "demo"));
    const tokenpakHome = join(scratch, "home-from-env");
    expect(await dataDir(["--config", RECIPE], { TOKENPAK_HOME: tokenpakHome })).toBe(tokenpakHome);
    expect(await dataDir(["--config", RECIPE])).toBe(join(home, ".tokenpak"));
  });
});

describe("which config file", () => {
  const small = (cents: number) =>
    [
      "budget:",
      `  daily_limit_cents: ${cents}`,
      "providers:",
      "  mock: {type: mock}",
      "models:",
      "  m: {provider: mock}",
    ].join("\n");

  it("--config FILE works after the command and before it", async () => {
    for (const args of [
      ["validate-config", "--config", "examples/demo.yaml"],
      ["--config", "examples/demo.yaml", "validate-config"],
      ["-c", "examples/demo.yaml", "validate-config"],
    ]) {
      const run = await tokenpak(args);
      expect(run.code, args.join(" ")).toBe(0);
      expect(lines(run.stdout)[1]).toBe("✓ Budget tracking enabled (daily: $1.00, monthly: $20.00)");
    }
  });

  it("the positional FILE overrides --config", async () => {
    const run = await tokenpak([
      "--config",
      "test/fixtures/invalid/wrong-type.yaml",
      "validate-config",
      "examples/demo.yaml",
    ]);
    expect(run.code).toBe(0);
    expect(lines(run.stdout)[1]).toContain("daily: $1.00");
  });

  it("./tokenpak.yaml is used when no file is given, before $TOKENPAK_CONFIG", async () => {
    const dir = mkdtempSync(join(scratch, "cwd-"));
    writeFileSync(join(dir, "tokenpak.yaml"), small(123));
    const run = await tokenpak(["validate-config"], {
      cwd: dir,
      env: { TOKENPAK_CONFIG: join(ROOT, "examples/demo.yaml") },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(lines(run.stdout)[1]).toBe("✓ Budget tracking enabled (daily: $1.23)");
  });

  it("$TOKENPAK_CONFIG is used when there is no ./tokenpak.yaml", async () => {
    const dir = mkdtempSync(join(scratch, "cwd-"));
    const run = await tokenpak(["validate-config"], {
      cwd: dir,
      env: { TOKENPAK_CONFIG: join(ROOT, "examples/demo.yaml") },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(lines(run.stdout)[1]).toContain("daily: $1.00");
    // ...and a relative $TOKENPAK_CONFIG is relative to the working directory.
    copyFileSync(join(ROOT, "examples/demo.yaml"), join(dir, "other.yaml"));
    const relative = await tokenpak(["validate-config"], {
      cwd: dir,
      env: { TOKENPAK_CONFIG: "other.yaml" },
    });
    expect(relative.code, relative.stderr).toBe(0);
  });

  it("no file anywhere: exit 1 with what to do", async () => {
    const dir = mkdtempSync(join(scratch, "cwd-"));
    const run = await tokenpak(["validate-config"], { cwd: dir });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe(
      "tokenpak: no config file: pass --config FILE, create ./tokenpak.yaml, or set TOKENPAK_CONFIG\n",
    );
  });

  it("a file that does not exist: exit 1, naming it", async () => {
    const run = await tokenpak(["validate-config", "missing/tokenpak.yaml"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`tokenpak: config file not found: ${join(ROOT, "missing/tokenpak.yaml")}\n`);
    expectNoStackTrace(run);
  });

  it("a file that cannot be read: exit 3 (I/O error)", async () => {
    const run = await tokenpak(["validate-config", "examples"]);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/^tokenpak: cannot read config file .*examples: EISDIR\n$/);
    expectNoStackTrace(run);
  });
});

describe("usage", () => {
  it("an unknown option is a usage error, exit 2", async () => {
    for (const args of [
      ["validate-config", "--bogus", RECIPE],
      ["--bogus", "validate-config"],
    ]) {
      const run = await tokenpak(args);
      expect(run.code, args.join(" ")).toBe(2);
      expect(run.stderr).toContain("unknown option '--bogus'");
      expect(run.stdout).toBe("");
    }
  });

  it("an unknown command is a usage error, exit 2, with a suggestion", async () => {
    const run = await tokenpak(["validate-cofig", RECIPE]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("unknown command 'validate-cofig'");
    expect(run.stderr).toContain("validate-config");
  });

  it("too many arguments is a usage error, exit 2", async () => {
    const run = await tokenpak(["validate-config", RECIPE, "extra.yaml"]);
    expect(run.code).toBe(2);
  });

  it("no arguments prints the help on stderr, exit 2", async () => {
    const run = await tokenpak([]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("Usage: tokenpak");
  });

  it("--help lists validate-config with a description, exit 0", async () => {
    const run = await tokenpak(["--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: tokenpak /);
    expect(run.stdout).toMatch(
      /^ {2}validate-config \[file\] +check a config file and show what it enforces$/m,
    );
    for (const option of ["--config <file>", "--data-dir <dir>", "--json", "--no-color", "--version"]) {
      expect(run.stdout).toContain(option);
    }
    expect(run.stdout).toContain(exitCodesHelp());
  });

  it("validate-config --help explains its output, exit 0", async () => {
    const run = await tokenpak(["validate-config", "--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("Usage: tokenpak validate-config [options] [file]");
    expect(run.stdout).toContain("FILE:LINE:COL  json.path  message");
  });

  it("--version prints package.json's version", async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    for (const flag of ["--version", "-V"]) {
      const run = await tokenpak([flag]);
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(`${version}\n`);
    }
  });
});

describe("colour", () => {
  const colourEnv = { NO_COLOR: undefined, FORCE_COLOR: "1", OPENAI_API_KEY: "sk-x" };

  it("FORCE_COLOR=1 colours the output (so the checks below mean something)", async () => {
    const ok = await tokenpak(["validate-config", RECIPE], { env: colourEnv });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(ESC);
    const bad = await tokenpak(["validate-config", "test/fixtures/invalid/wrong-type.yaml"], {
      env: colourEnv,
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(ESC);
  });

  it("--no-color turns colour off, even with FORCE_COLOR=1", async () => {
    const ok = await tokenpak(["--no-color", "validate-config", RECIPE], { env: colourEnv });
    expect(ok.code).toBe(0);
    expect(ok.stdout).not.toContain(ESC);
    expect(lines(ok.stdout).slice(0, 3)).toEqual(RECIPE_LINES);
    const bad = await tokenpak(["validate-config", "--no-color", "test/fixtures/invalid/wrong-type.yaml"], {
      env: colourEnv,
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr).not.toContain(ESC);
  });

  it("NO_COLOR turns colour off, even with FORCE_COLOR=1", async () => {
    const env = { ...colourEnv, NO_COLOR: "1" };
    const ok = await tokenpak(["validate-config", RECIPE], { env });
    expect(ok.code).toBe(0);
    expect(ok.stdout).not.toContain(ESC);
    expect(lines(ok.stdout).slice(0, 3)).toEqual(RECIPE_LINES);
    const bad = await tokenpak(["validate-config", "test/fixtures/invalid/wrong-type.yaml"], { env });
    expect(bad.stderr).not.toContain(ESC);
  });
});
