import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  bundledTable,
  loadTable,
  parseTable,
  readStore,
  storePath,
  tableText,
  withStoreLock,
  writeStore,
} from "./store.js";
import type { PriceTable } from "./table.js";

const dirs: string[] = [];
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), "tokenpak-store-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const TABLE: PriceTable = {
  version: 1,
  revision: 7,
  updated_at: "2026-12-01T10:00:00.000Z",
  sources: {
    openai: {
      source: "https://example.test/prices.json",
      format: "litellm",
      fetched_at: "2026-12-01T10:00:00.000Z",
      sha256: "0".repeat(64),
    },
  },
  entries: {
    "gpt-4o": { provider: "openai", input: 250_000, output: 1_000_000, cached_input: 125_000 },
    long: {
      provider: "openai",
      input: 1,
      output: 2,
      tiers: [{ above_input_tokens: 200_000, input: 2, output: 4 }],
    },
  },
};

describe("the price table store", () => {
  it("writes one entry per line and reads back what it wrote", () => {
    const d = dir();
    writeStore(d, TABLE);
    const text = readFileSync(storePath(d), "utf8");
    expect(text).toContain(
      '\n    "gpt-4o": {"provider":"openai","input":250000,"output":1000000,"cached_input":125000},\n',
    );
    expect(readStore(d)).toEqual(TABLE);
    // no temp file is left behind
    expect(readdirSync(d)).toEqual(["pricing.json"]);
    expect(loadTable(d)).toEqual({ table: TABLE, from: "store" });
  });

  it("without a store, prices come from the bundled snapshot", () => {
    const d = dir();
    expect(readStore(d)).toBeUndefined();
    expect(loadTable(d).from).toBe("bundled");
  });

  it("refuses a file that is not a price table, saying what is wrong", () => {
    const bad = (table: unknown) => () => parseTable(JSON.stringify(table), "x.json");
    expect(bad({ ...TABLE, version: 2 })).toThrow(expect.objectContaining({ code: "pricing_invalid" }));
    expect(bad({ ...TABLE, entries: { m: { provider: "openai", input: 1.5, output: 1 } } })).toThrow(
      /x\.json is not a tokenpak price table: \/entries\/m\/input must be integer/,
    );
    expect(bad({ ...TABLE, entries: { m: { provider: "openai", input: -1, output: 1 } } })).toThrow(
      /must be >= 0/,
    );
    expect(bad({ ...TABLE, entries: { m: { provider: "azure", input: 1, output: 1 } } })).toThrow(/provider/);
    expect(() => parseTable(tableText(TABLE).slice(0, 100), "x.json")).toThrow(
      /^x\.json is not valid JSON \(truncated\)$/,
    );
    expect(() => parseTable('{"version": 1, "password": hunter2}', "x.json")).toThrow(
      /^x\.json is not valid JSON \(an unexpected character\)$/,
    );
    const d = dir();
    writeFileSync(storePath(d), "{}");
    expect(() => readStore(d)).toThrow(expect.objectContaining({ code: "pricing_invalid" }));
  });

  it("the bundled snapshot is a valid table of openai and anthropic prices", () => {
    const b = bundledTable();
    expect(b.revision).toBe(0);
    expect(Object.keys(b.sources).sort()).toEqual(["anthropic", "openai"]);
    expect(b.entries["gpt-4"]).toMatchObject({ provider: "openai", input: 3_000_000, output: 6_000_000 });
    expect(b.entries["claude-3-5-sonnet-20241022"]).toMatchObject({
      provider: "anthropic",
      cache_write: 375_000,
    });
    expect(Object.values(b.entries).every((e) => e.provider === "openai" || e.provider === "anthropic")).toBe(
      true,
    );
  });
});

describe("withStoreLock", () => {
  it("waits while another live process holds it, then takes it", async () => {
    const d = dir();
    const lock = join(d, "pricing.lock");
    writeFileSync(lock, `${process.ppid}\n`); // a live process that is not us
    let ran = false;
    const waiting = withStoreLock(d, () => {
      ran = true;
      return readFileSync(lock, "utf8");
    });
    await new Promise((r) => setTimeout(r, 150));
    expect(ran).toBe(false);
    rmSync(lock); // the other sync is done
    expect(await waiting).toMatch(new RegExp(`^${process.pid}\n[0-9a-f-]{36}\n$`));
    expect(ran).toBe(true);
    expect(readdirSync(d)).toEqual([]); // released
  });

  it("takes over a lock left by a process that is gone, and gives up on a live holder after waiting", async () => {
    const d = dir();
    writeFileSync(join(d, "pricing.lock"), "999999999\n");
    expect(await withStoreLock(d, () => "taken over")).toBe("taken over");
    writeFileSync(join(d, "pricing.lock"), `${process.ppid}\n`);
    await expect(withStoreLock(d, () => "never", 100)).rejects.toMatchObject({
      code: "pricing_locked",
      message: expect.stringContaining(`pid ${process.ppid}`),
    });
  });

  it("takes over an empty or garbled lock at once: no live holder can be mid-write (it is linked into place whole)", async () => {
    const d = dir();
    for (const content of ["", "\n", "garbage\n", "\u0000\u0000\u0000", "-1\n"]) {
      writeFileSync(join(d, "pricing.lock"), content);
      const started = Date.now();
      expect(await withStoreLock(d, () => "taken over", 2_000)).toBe("taken over");
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(readdirSync(d)).toEqual([]);
    }
  });
});
