import { describe, expect, it } from "vitest";
import { memoByText } from "./memo.js";

describe("memoByText", () => {
  const counting = () => {
    const calls: string[] = [];
    const count = (text: string) => {
      calls.push(text);
      return text.length * 2;
    };
    return { calls, count };
  };

  it("counts a text once while it is kept", () => {
    const { calls, count } = counting();
    const memo = memoByText(count, 1000);
    expect(memo("system prompt")).toBe(26);
    expect(memo(`system ${"prompt"}`)).toBe(26); // an equal text built anew is the same key
    expect(memo("next turn")).toBe(18);
    expect(calls).toEqual(["system prompt", "next turn"]);
  });

  it("keeps at most maxChars of text, dropping the least recently used first", () => {
    const { calls, count } = counting();
    const memo = memoByText(count, 100);
    const texts = [..."abcdefghijk"].map((c) => c.repeat(10)); // 11 texts of 10 characters
    for (const t of texts) memo(t); // the 11th makes 110 > 100: the first goes
    calls.length = 0;
    memo(texts[1] ?? "");
    memo(texts[10] ?? "");
    expect(calls).toEqual([]);
    memo(texts[0] ?? "");
    expect(calls).toEqual([texts[0]]);
  });

  it("obs 13: a hot text outlives a stream of one-off texts (LRU, not oldest-first)", () => {
    const { calls, count } = counting();
    const memo = memoByText(count, 200);
    const hot = "system-prompt"; // 13 characters, used before every one-off text
    for (let i = 0; i < 50; i++) {
      memo(hot);
      memo(`one-off ${String(i).padStart(2, "0")}`); // 10 characters each: the bound holds 18 of them
    }
    expect(calls.filter((t) => t === hot)).toEqual([hot]); // counted once, never evicted
    expect(calls.filter((t) => t.startsWith("one-off"))).toHaveLength(50);
  });

  it("never keeps a text longer than a tenth of the bound", () => {
    const { calls, count } = counting();
    const memo = memoByText(count, 100);
    const long = "x".repeat(11);
    expect(memo(long)).toBe(22);
    expect(memo(long)).toBe(22);
    expect(calls).toEqual([long, long]);
  });
});
