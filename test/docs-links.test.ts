// The README is the front page and docs/ the reference: every relative link
// between them (and to files of the repository) must lead somewhere.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./helpers/cli.js";

const PAGES = [
  "README.md",
  "CONTRIBUTING.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function anchors(file: string): Set<string> {
  const text = readFileSync(join(ROOT, file), "utf8").replace(/```[\s\S]*?```/g, "");
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, heading] of text.matchAll(/^#{1,6} (.+)$/gm)) {
    const base = slug(heading ?? "");
    const n = seen.get(base) ?? 0;
    out.add(n === 0 ? base : `${base}-${n}`);
    seen.set(base, n + 1);
  }
  return out;
}

/** Every [text](target) outside code blocks that is not a URL. */
function links(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8").replace(/```[\s\S]*?```/g, "");
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? "").filter((t) => !/^[a-z]+:/i.test(t));
}

describe("documentation links", () => {
  it("slugs headings as GitHub does", () => {
    expect(slug("`tokenpak ledger repair [--yes] [--json]`")).toBe("tokenpak-ledger-repair---yes---json");
    expect(slug("Exit codes")).toBe("exit-codes");
    expect(slug("`budget` — the workspace")).toBe("budget--the-workspace");
  });

  it.each(PAGES)("every relative link in %s resolves, anchors included", (page) => {
    const found = links(page);
    for (const target of found) {
      const [path = "", anchor] = target.split("#");
      const file = path === "" ? page : relative(ROOT, join(ROOT, dirname(page), path));
      expect(existsSync(join(ROOT, file)), `${page}: ${target} (no ${file})`).toBe(true);
      if (anchor !== undefined && file.endsWith(".md") && statSync(join(ROOT, file)).isFile()) {
        expect([...anchors(file)], `${page}: ${target}`).toContain(anchor);
      }
    }
  });

  it("the README stays a front page", () => {
    expect(readFileSync(join(ROOT, "README.md"), "utf8").split("\n").length).toBeLessThanOrEqual(220);
    for (const page of PAGES.filter((p) => p.startsWith("docs/")))
      expect(readFileSync(join(ROOT, "README.md"), "utf8"), `README links ${page}`).toContain(`(${page}`);
  });
});
