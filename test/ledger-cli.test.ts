// `tokenpak ledger repair` as a user runs it: the built CLI as a subprocess.
import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { journalFiles } from "../src/ledger/journal.js";
import { Ledger } from "../src/ledger/ledger.js";
import { runCli } from "./helpers/cli.js";
import { policyFrom } from "./helpers/policy.js";

const policy = policyFrom(`
budget: { daily_limit_cents: 100000 }
providers: { p: { type: mock } }
models: { m: { provider: p } }
`);

/** A data directory whose journal has one good request and, in the middle, a line of garbage. */
async function damaged(): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), "tokenpak-ledger-cli-"));
  const { ledger } = await Ledger.open({ dir, policy, snapshotIntervalMs: 0 });
  await ledger.adjust({ identity: {}, cost: 5, reason: "one" });
  await ledger.adjust({ identity: {}, cost: 7, reason: "two" });
  await ledger.close();
  const [file] = journalFiles(join(dir, "journal"));
  if (file === undefined) throw new Error("no journal written");

  const [a, b] = readFileSync(file, "utf8").split("\n");
  writeFileSync(file, `${a}\nnot json at all\n${b}\n`);
  return { dir, file };
}

describe("tokenpak ledger repair", () => {
  it("lists the bad line as FILE:LINE, changes nothing, exits 5; --yes moves it aside and exits 0", async () => {
    const { dir, file } = await damaged();
    const before = readFileSync(file, "utf8");
    const dry = await runCli(["ledger", "repair", "--data-dir", dir]);
    expect(dry.code).toBe(5);
    expect(dry.stdout).toMatch(
      /^journal\/\d{4}-\d{2}\.jsonl:2 {2}not a journal entry, 15 bytes: "not json at all"$/m,
    );
    expect(dry.stderr).toContain("Nothing was changed");
    expect(dry.stderr).toContain("tokenpak ledger repair --yes");
    expect(readFileSync(file, "utf8")).toBe(before);

    const applied = await runCli(["ledger", "repair", "--data-dir", dir, "--yes"]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain(".jsonl.corrupt with a record of what was dropped");
    expect(readFileSync(`${file}.corrupt`, "utf8")).toContain('"dropped":"not json at all"');

    const again = await runCli(["ledger", "repair", "--data-dir", dir, "--json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ applied: false, files: 1, entries: 2, bad: [] });
  });

  it("--help says what it does and that --yes needs the daemon stopped", async () => {
    const help = await runCli(["ledger", "repair", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: tokenpak ledger repair [options]");
    expect(help.stdout).toContain("stop the daemon first");
  });
});
