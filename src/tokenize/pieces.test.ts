import { countTokens } from "gpt-tokenizer";
import { O200K_TOKEN_SPLIT_REGEX } from "gpt-tokenizer/encodingParams/constants";
import { describe, expect, it } from "vitest";
import { estimateEmbeddingsInput } from "./estimate.js";
import { CUT_MARGIN, countSteps, RUN_CHARS, SLICE_CHARS, SLOW_BUDGET_CHARS, TokenWork } from "./pieces.js";

const PLAIN = { disallowedSpecial: new Set<string>() };
/** The tokenizer on the whole text in one call: the count an estimate must not fall below. */
const whole = (text: string) => countTokens(text, PLAIN);
/** The estimate of one text alone (embeddings add nothing around it). */
const estimate = (text: string) => estimateEmbeddingsInput({ input: text }, "openai");

/** `countSteps` to its end with `tokenize`, and every text it handed to `tokenize`. */
function stepped(text: string, work: TokenWork, tokenize = whole): { tokens: number; calls: string[] } {
  const calls: string[] = [];
  const steps = countSteps(text, work, (s) => {
    calls.push(s);
    return tokenize(s);
  });
  for (;;) {
    const step = steps.next();
    if (step.done) return { tokens: step.value, calls };
  }
}

/** A small seeded generator (mulberry32): the same inputs on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function text(length: number, seed: number, pick: (r: number) => string): string {
  const next = random(seed);
  let out = "";
  while (out.length < length) out += pick(next());
  return out;
}

const MIXED = [
  "ab",
  "Zq",
  "12",
  "{",
  '"',
  ":",
  "é",
  "日本",
  "😀",
  "ü",
  "ß",
  "x",
  "_",
  "-",
  "'s",
  "\u200d",
  "\u0301",
  "/",
  "\n",
];
const kinds: Record<string, (r: number) => string> = {
  "random letters": (r) => String.fromCharCode(97 + Math.floor(r * 26)),
  "random mixed-case letters": (r) => String.fromCharCode((r < 0.5 ? 65 : 97) + Math.floor((r * 52) % 26)),
  CJK: (r) => String.fromCharCode(0x4e00 + Math.floor(r * 20_000)),
  emoji: (r) => String.fromCodePoint(0x1f600 + Math.floor(r * 80)),
  mixed: (r) => MIXED[Math.floor(r * MIXED.length)] ?? "",
  "slashes and newlines": (r) => (r < 0.5 ? "/" : "\n"),
  "long white space": (r) => (r < 0.02 ? "x" : " "),
  base64: (r) => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[Math.floor(r * 64)] ?? "",
};

describe("cutting long pre-tokens keeps the estimate at or above the tokenizer's own count", () => {
  for (const [kind, pick] of Object.entries(kinds)) {
    it(kind, () => {
      for (let seed = 1; seed <= 4; seed++) {
        for (const length of [RUN_CHARS + 1, 700, 2_000]) {
          const t = text(length, seed * 1000 + length, pick);
          expect(estimate(t), `${kind}, seed ${seed}, ${length} characters`).toBeGreaterThanOrEqual(whole(t));
        }
      }
    });
  }

  it("a cut alone can undercount: the margin per cut is what keeps the estimate above", () => {
    // Found by search: 400 random letters, one pre-token, whose two pieces count a token less than the whole.
    const t = text(400, 4, kinds["random letters"] ?? String);
    expect(whole(t.slice(0, RUN_CHARS)) + whole(t.slice(RUN_CHARS))).toBeLessThan(whole(t));
    expect(estimate(t)).toBeGreaterThanOrEqual(whole(t));
  });

  it("and stays close to it: a few tokens per cut", () => {
    const t = text(2_000, 7, kinds["random letters"] ?? String);
    const cuts = Math.ceil(t.length / RUN_CHARS);
    expect(estimate(t) - whole(t)).toBeLessThanOrEqual(cuts * (CUT_MARGIN + 2));
  });

  it("prose longer than a slice, and prose around a long run, count as much as the whole", () => {
    const words = [
      "the",
      "budget",
      "cap",
      "holds",
      "when",
      "every",
      "request",
      "is",
      "priced",
      "\n\n",
      "日本語の",
      "。",
    ];
    const prose = text(3 * SLICE_CHARS, 3, (r) => `${words[Math.floor(r * words.length)] ?? ""} `);
    expect(estimate(prose)).toBeGreaterThanOrEqual(whole(prose));
    expect(estimate(prose)).toBeLessThanOrEqual(whole(prose) + 3 * CUT_MARGIN);
    const around = `${prose}${text(1_500, 4, kinds.CJK ?? String)} and on${prose}`;
    expect(estimate(around)).toBeGreaterThanOrEqual(whole(around));
  });

  it("past the budget a long run is charged a token per UTF-8 byte, which bounds its count", () => {
    for (const [kind, pick] of Object.entries(kinds)) {
      const t = text(1_000, 11, pick);
      const work = new TokenWork(RUN_CHARS); // only one piece's worth may be tokenized
      expect(stepped(t, work).tokens, kind).toBeGreaterThanOrEqual(whole(t));
    }
    // 200K letters: a budget's worth tokenized, the rest by bytes, and more tokens than bytes untokenized.
    const letters = text(200_000, 12, kinds["random letters"] ?? String);
    const { tokens, calls } = stepped(letters, new TokenWork(), () => 0);
    const tokenized = calls.reduce((sum, c) => sum + c.length, 0);
    expect(tokenized).toBeLessThanOrEqual(SLOW_BUDGET_CHARS);
    expect(tokens).toBeGreaterThanOrEqual(letters.length - tokenized);
  });
});

describe("no tokenizer call gets more than a bounded amount of work", () => {
  const longestPreToken = (s: string) => {
    let longest = 0;
    for (const m of s.matchAll(O200K_TOKEN_SPLIT_REGEX)) longest = Math.max(longest, m[0].length);
    return longest;
  };

  it.each(Object.keys(kinds))("%s: pieces are short, pre-tokens shorter, surrogate pairs whole", (kind) => {
    const t = text(50_000, 5, kinds[kind] ?? String);
    const { calls } = stepped(t, new TokenWork(), () => 1);
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) {
      expect(call.length).toBeLessThanOrEqual(SLICE_CHARS);
      expect(longestPreToken(call)).toBeLessThanOrEqual(2 * RUN_CHARS + 1);
      expect(call.charCodeAt(0) >= 0xdc00 && call.charCodeAt(0) <= 0xdfff).toBe(false);
      const last = call.charCodeAt(call.length - 1);
      expect(last >= 0xd800 && last <= 0xdbff).toBe(false);
    }
  });
});
