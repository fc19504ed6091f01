import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { messageAlert } from "./alert.js";
import { compactOutbox, type OutboxRecord, readOutbox } from "./outbox.js";

const target = { id: "t1", label: "https://hooks.example.com/…", kind: "webhook" as const };
const alertAt = (id: string, at: string) =>
  messageAlert({ id, event: "test", at: Date.parse(at), message: id });
const line = (r: OutboxRecord) => `${JSON.stringify(r)}\n`;

async function file(records: OutboxRecord[], tail = ""): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), "tokenpak-outbox-")), "alerts-outbox.jsonl");
  writeFileSync(path, records.map(line).join("") + tail);
  return path;
}

describe("readOutbox", () => {
  it("folds attempts into each target's state; a torn last line is skipped", async () => {
    const path = await file(
      [
        {
          type: "alert",
          alert: alertAt("a", "2026-03-25T09:00:00Z"),
          targets: [target],
          mark: ["user:a|daily/cents", "d:2026-03-25", 50],
        },
        {
          type: "attempt",
          id: "a",
          target: "t1",
          n: 1,
          at: "2026-03-25T09:00:01Z",
          result: "failed",
          error: "HTTP 500",
          next_at: "2026-03-25T09:00:02Z",
        },
        { type: "alert", alert: alertAt("b", "2026-03-25T09:01:00Z"), targets: [target] },
        { type: "attempt", id: "a", target: "t1", n: 2, at: "2026-03-25T09:00:03Z", result: "delivered" },
      ],
      '{"type":"attempt","id":"b","tar',
    );
    const [a, b] = readOutbox(path);
    expect(a?.mark).toEqual(["user:a|daily/cents", "d:2026-03-25", 50]);
    expect(a?.targets).toEqual([
      { ...target, state: "delivered", attempts: 2, last_attempt_at: "2026-03-25T09:00:03Z" },
    ]);
    expect(b?.targets).toEqual([{ ...target, state: "pending", attempts: 0 }]);
  });

  it("a missing outbox is an empty one", () => {
    expect(readOutbox("/nonexistent/alerts-outbox.jsonl")).toEqual([]);
  });
});

describe("compactOutbox", () => {
  it("once over the size, keeps recent alerts and every pending one, with their state", async () => {
    const path = await file([
      { type: "alert", alert: alertAt("old-done", "2026-01-01T00:00:00Z"), targets: [target] },
      {
        type: "attempt",
        id: "old-done",
        target: "t1",
        n: 1,
        at: "2026-01-01T00:00:01Z",
        result: "delivered",
      },
      { type: "alert", alert: alertAt("old-pending", "2026-01-02T00:00:00Z"), targets: [target] },
      {
        type: "attempt",
        id: "old-pending",
        target: "t1",
        n: 3,
        at: "2026-01-02T00:00:09Z",
        result: "failed",
        error: "HTTP 502",
        next_at: "2026-01-02T00:01:00Z",
      },
      { type: "alert", alert: alertAt("new-done", "2026-03-25T00:00:00Z"), targets: [target] },
      {
        type: "attempt",
        id: "new-done",
        target: "t1",
        n: 1,
        at: "2026-03-25T00:00:01Z",
        result: "dead",
        error: "HTTP 410",
      },
    ]);
    const before = readOutbox(path).slice(1);
    expect(compactOutbox(path, Date.parse("2026-03-01T00:00:00Z"), 1_000_000)).toBe(false); // small: left alone
    expect(compactOutbox(path, Date.parse("2026-03-01T00:00:00Z"), 100)).toBe(true);
    expect(readOutbox(path)).toEqual(before);
    expect(readFileSync(path, "utf8")).not.toContain("old-done");
    appendFileSync(
      path,
      line({
        type: "attempt",
        id: "old-pending",
        target: "t1",
        n: 4,
        at: "2026-03-25T01:00:00Z",
        result: "delivered",
      }),
    );
    expect(readOutbox(path)[0]?.targets[0]?.state).toBe("delivered");
  });
});
