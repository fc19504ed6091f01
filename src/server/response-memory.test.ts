import { describe, expect, it } from "vitest";
import { MEMORY_MARK, ResponseMemory } from "./response-memory.js";

function marks(initial?: unknown) {
  const store: Record<string, unknown> = initial === undefined ? {} : { [MEMORY_MARK]: initial };
  return {
    store,
    mark: (name: string) => store[name],
    setMark: (name: string, value: unknown) => {
      store[name] = value;
    },
  };
}

describe("ResponseMemory", () => {
  it("remembers by id, forgets the least recently used past its bound", () => {
    const m = new ResponseMemory(marks(), 3);
    m.remember("a", 1);
    m.remember("b", 2);
    m.remember("c", 3);
    expect(m.get("a")).toBe(1); // used: now the most recent
    m.remember("d", 4);
    expect(m.get("b")).toBeUndefined();
    expect([m.get("a"), m.get("c"), m.get("d")]).toEqual([1, 3, 4]);
    expect(m.size).toBe(3);
  });

  it("is kept in the ledger's marks and read back from them; bad entries are dropped", () => {
    const ledger = marks();
    const m = new ResponseMemory(ledger);
    m.remember("resp_1", 120);
    m.remember("resp_2", -1); // not a count: ignored
    const saved = JSON.parse(JSON.stringify(ledger.store)) as Record<string, unknown>;
    expect(saved[MEMORY_MARK]).toEqual([["resp_1", 120]]);
    const again = new ResponseMemory(
      marks([...(saved[MEMORY_MARK] as unknown[]), ["x", 1.5], [3, 4], "junk"]),
    );
    expect(again.get("resp_1")).toBe(120);
    expect(again.size).toBe(1);
  });
});
