import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = new URL("..", import.meta.url).pathname;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : [relative(ROOT, join(dir, e.name))],
  );
}

describe("repository hygiene", () => {
  it("obs 12: no compiled test helper under test/ shadows its .ts source, and git ignores any", () => {
    const compiled = filesUnder(join(ROOT, "test")).filter((f) => /\.(js|d\.ts|js\.map)$/.test(f));
    // A stale policy.js was what vitest imported instead of policy.ts: edits to the helper did nothing.
    expect(compiled).toEqual([]);
    const ignored = execFileSync(
      "git",
      ["check-ignore", "test/helpers/policy.js", "test/helpers/policy.d.ts", "test/helpers/policy.js.map"],
      { cwd: ROOT, encoding: "utf8" },
    );
    expect(ignored.trim().split("\n")).toHaveLength(3);
  });
});
