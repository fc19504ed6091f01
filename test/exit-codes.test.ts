// The exit-code table: one source (src/cli/exit-codes.ts), printed by --help,
// copied into the docs (checked here), and what a read-only data directory exits with.
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EXIT_CODE_TABLE, exitCodeFor, exitCodesMarkdown } from "../src/cli/exit-codes.js";
import { ROOT, runCli } from "./helpers/cli.js";
import { readOnlyDisk } from "./helpers/disk.js";

/** Every table under an "Exit codes" heading in the README and docs/: the copies of the whole table. */
function docTables(): { file: string; table: string }[] {
  const docs = existsSync(join(ROOT, "docs"))
    ? readdirSync(join(ROOT, "docs"))
        .filter((f) => f.endsWith(".md"))
        .map((f) => join("docs", f))
    : [];
  return ["README.md", ...docs].flatMap((file) => {
    const text = readFileSync(join(ROOT, file), "utf8");
    return [...text.matchAll(/^#{2,4} Exit codes\n\n(\|[^\n]*\n)+/gm)].map((m) => ({
      file,
      table: (m[0] ?? "").replace(/^#{2,4} Exit codes\n\n/, "").trimEnd(),
    }));
  });
}

describe("exit codes", () => {
  it("obs 9: every exit-code table in the README and docs/ is the one in src/cli/exit-codes.ts", () => {
    const tables = docTables();
    expect(tables.map((t) => t.file)).toContain("docs/cli.md");
    for (const { file, table } of tables) expect(table, file).toBe(exitCodesMarkdown());
    // The codes the table once lacked.
    expect(exitCodeFor("ledger_corrupt")).toBe(5);
    expect(exitCodeFor("budget_exceeded")).toBe(6);
    expect(exitCodeFor("upstream_unreachable")).toBe(7);
    expect(new Set(EXIT_CODE_TABLE.map((r) => r.code)).size).toBe(EXIT_CODE_TABLE.length);
  });

  describe("a data directory tokenpak cannot write", () => {
    const ro = readOnlyDisk();
    let dir: string;
    let how: string;
    if (typeof ro === "string") {
      // Without root, a directory without write permission (EACCES) stands in for a read-only mount.
      dir = mkdtempSync(join(tmpdir(), "tokenpak-ro-"));
      chmodSync(dir, 0o555);
      how = `mode 0555 (${ro})`;
    } else {
      dir = ro.path;
      how = "a read-only tmpfs (EROFS)";
    }
    afterAll(() => {
      if (typeof ro !== "string") ro.unmount();
    });

    it(`obs 9: exits 3 (I/O error), not 70, naming the file: ${how}`, async () => {
      const r = await runCli(["proxy", "--config", "examples/demo.yaml", "--data-dir", dir, "--port", "0"]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/^tokenpak: cannot (lock|write|create) .*(EROFS|EACCES)/m);
      // The lock file the user knows, not the private file the failing call was making.
      expect(r.stderr).toContain(join(dir, "tokenpak.lock"));
      expect(r.stderr).not.toMatch(/tokenpak\.lock\.\d+\.[0-9a-f-]+\.tmp/);
      expect(r.stderr).not.toContain("internal error");
      expect(r.stderr).not.toMatch(/^\s+at /m);
    });
  });
});
