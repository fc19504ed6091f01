import { readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { faultyFs } from "../../test/helpers/faulty-fs.js";
import type { JournalEntry } from "./journal.js";
import { Journal } from "./journal-writer.js";

const journals: Journal[] = [];
afterEach(() => {
  for (const j of journals.splice(0)) j.abandon();
});

function entry(seq: number): JournalEntry {
  return {
    type: "release",
    seq,
    ts: "2026-03-25T10:00:00.000Z",
    request_id: `request-${String(seq).padStart(4, "0")}-${"x".repeat(40)}`,
    reason: "test",
  };
}

async function setUp(retryMs = 5) {
  const dir = await mkdtemp(join(tmpdir(), "tokenpak-journal-"));
  const disk = faultyFs();
  const health: (string | undefined)[] = [];
  const journal = new Journal({
    dir,
    fsync: "batch",
    io: disk.io,
    retryMs,
    retryMaxMs: 20,
    onHealth: (failure) => health.push(failure?.message),
  });
  journals.push(journal);
  const file = join(dir, "2026-03.jsonl");
  const lines = () => readFileSync(file, "utf8");
  return { journal, disk, health, lines };
}

const settled = (p: Promise<void>) =>
  p.then(
    () => "written",
    (e: { code?: string }) => e.code ?? "rejected",
  );

describe("journal writes on a failing disk (injected)", () => {
  it("obs 1: a write torn by ENOSPC is cut back to the last complete line, rejects its appends, and is retried until it lands", async () => {
    const { journal, disk, health, lines } = await setUp();
    expect(await settled(journal.append(entry(1)))).toBe("written");
    const before = lines();
    disk.room = 30; // the next batch tears after 30 bytes
    const batch = [journal.append(entry(2)), journal.append(entry(3))];
    expect(await Promise.all(batch.map(settled))).toEqual(["store_unavailable", "store_unavailable"]);
    expect(lines()).toBe(before); // no fragment left behind
    expect(journal.error?.message).toContain("ENOSPC");
    expect(health).toEqual([expect.stringContaining("ENOSPC")]);

    // Still full: what comes now fails at once, and nothing is written.
    expect(await settled(journal.append(entry(4)))).toBe("store_unavailable");
    await new Promise((r) => setTimeout(r, 60));
    expect(lines()).toBe(before);
    expect(disk.failures).toBeGreaterThan(1); // retried, with backoff

    disk.room = Number.POSITIVE_INFINITY; // space is back
    for (let i = 0; i < 100 && journal.error; i++) await new Promise((r) => setTimeout(r, 5));
    expect(journal.error).toBeUndefined();
    expect(health).toEqual([expect.stringContaining("ENOSPC"), undefined]);
    const seqs = lines()
      .split("\n")
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as JournalEntry).seq);
    expect(seqs).toEqual([1, 2, 3, 4]); // every line the ledger applied, once, in order
    expect(await settled(journal.append(entry(5)))).toBe("written");
  });

  it("a failure that prevents even the cut is repaired before the next write", async () => {
    const { journal, disk, lines } = await setUp();
    await journal.append(entry(1));
    const before = lines();
    const truncate = disk.io.ftruncateSync;
    disk.io.ftruncateSync = () => {
      throw Object.assign(new Error("EIO: injected"), { code: "EIO" });
    };
    disk.room = 10;
    expect(await settled(journal.append(entry(2)))).toBe("store_unavailable");
    expect(lines().length).toBe(before.length + 10); // a fragment the failed cut left
    disk.io.ftruncateSync = truncate;
    disk.room = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 100 && journal.error; i++) await new Promise((r) => setTimeout(r, 5));
    expect(
      lines()
        .split("\n")
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as JournalEntry).seq),
    ).toEqual([1, 2]);
  });

  it("close() while writes fail throws store_unavailable saying how many entries were not written", async () => {
    const { journal, disk } = await setUp(10_000);
    await journal.append(entry(1));
    disk.room = 0;
    void journal.append(entry(2));
    void journal.append(entry(3));
    journal.flushSync();
    expect(() => journal.close()).toThrow(/2 journal entries could not be written \(ENOSPC/);
  });
});
