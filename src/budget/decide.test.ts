import { describe, expect, it } from "vitest";
import { centsToMicros } from "../money/money.js";
import type { Prices } from "../pricing/cost.js";
import { type BudgetRequest, decide, MIN_OUTPUT_TOKENS, type Rules, type WindowUsage } from "./decide.js";
import type { Limit, Scope } from "./policy.js";

// gpt-4 of the recipe: 3¢ in, 6¢ out per 1k tokens.
const GPT4: Prices = {
  input: centsToMicros(3),
  output: centsToMicros(6),
  cached_input: centsToMicros(3),
  cache_write: centsToMicros(3),
  cache_write_1h: centsToMicros(3),
};
const GPT35: Prices = {
  input: centsToMicros(0.5),
  output: centsToMicros(1.5),
  cached_input: 0,
  cache_write: 0,
  cache_write_1h: 0,
};
const gpt4 = { name: "gpt-4", provider: "openai", prices: GPT4, maxOutputTokens: 4096 };
const gpt35 = { name: "gpt-3.5-turbo", provider: "openai", prices: GPT35, maxOutputTokens: 4096 };

const dailyCents = (cents: number): Limit => ({
  window: { kind: "day" },
  unit: "cents",
  amount: centsToMicros(cents),
  kind: "budget",
});
const user = (limits: Limit[]): Scope => ({ id: "user:a", kind: "user", name: "a", limits });
const workspace = (limits: Limit[]): Scope => ({
  id: "workspace",
  kind: "workspace",
  name: "workspace",
  limits,
});

const hard: Rules = { hardStopPct: 100, rejectOnExceed: true, perRequest: {} };

function usageFrom(table: Record<string, WindowUsage>) {
  return (scope: Scope, limit: Limit): WindowUsage =>
    table[`${scope.id}|${limit.window.kind}|${limit.unit}`] ?? { spent: 0, reserved: 0 };
}

function request(over: Partial<BudgetRequest>): BudgetRequest {
  return { scopes: [], inputTokens: 1000, model: gpt4, ...over };
}

describe("decide", () => {
  it("allows and reserves the worst case: input × price + max_tokens × output price", () => {
    const d = decide(
      request({ scopes: [user([dailyCents(300)])], requestedMaxTokens: 500 }),
      usageFrom({}),
      hard,
    );
    expect(d.action).toBe("allow");
    if (d.action !== "allow") return;
    // 1000 × 3¢/1k = 3¢; 500 × 6¢/1k = 3¢
    expect(d.reserve).toEqual({ micros: centsToMicros(6), tokens: 1500, requests: 1 });
    expect(d.maxOutputTokens).toBe(500);
    expect(d.clamped).toBe(false);
  });

  it("clamps max_tokens to what the tightest remaining budget can pay for", () => {
    // 10¢ left for the user: 3¢ input leaves 7¢ = 1166 output tokens at 6¢/1k.
    const usage = usageFrom({
      "user:a|day|cents": { spent: centsToMicros(280), reserved: centsToMicros(10) },
    });
    const d = decide(
      request({ scopes: [user([dailyCents(300)]), workspace([dailyCents(1000)])] }),
      usage,
      hard,
    );
    expect(d).toMatchObject({ action: "allow", maxOutputTokens: 1166, clamped: true });
    if (d.action === "allow") expect(d.reserve.micros).toBeLessThanOrEqual(centsToMicros(10));
  });

  it("n answers: the reservation counts each, and the clamp divides the room between them", () => {
    const d = decide(
      request({ scopes: [user([dailyCents(300)])], requestedMaxTokens: 500, choices: 3 }),
      usageFrom({}),
      hard,
    );
    // 3¢ input + 3 × 500 × 6¢/1k = 12¢
    expect(d).toMatchObject({
      action: "allow",
      maxOutputTokens: 500,
      reserve: { micros: centsToMicros(12), tokens: 2500 },
    });
    // 10¢ left: 3¢ input leaves 7¢ = 1166 tokens, 388 per answer.
    const tight = usageFrom({ "user:a|day|cents": { spent: centsToMicros(290), reserved: 0 } });
    const c = decide(
      request({ scopes: [user([dailyCents(300)])], requestedMaxTokens: 500, choices: 3 }),
      tight,
      hard,
    );
    expect(c).toMatchObject({ action: "allow", maxOutputTokens: 388, clamped: true });
    if (c.action === "allow") expect(c.reserve.micros).toBeLessThanOrEqual(centsToMicros(10));
  });

  it.each([
    // spent, reserved → blocked only by requests in flight?
    [296.95, 0, false],
    [0, 296.95, true],
    [150, 146.95, true],
  ])("a block with %s¢ spent and %s¢ reserved is in flight only: %s", (spent, reserved, inFlight) => {
    const usage = usageFrom({
      "user:a|day|cents": { spent: centsToMicros(spent), reserved: centsToMicros(reserved) },
    });
    const d = decide(request({ scopes: [user([dailyCents(300)])] }), usage, hard);
    expect(d).toMatchObject({ action: "block", breach: { inFlight } });
  });

  it("a budget truly reached outranks a narrower one only held by requests in flight", () => {
    const usage = usageFrom({
      "user:a|day|cents": { spent: 0, reserved: centsToMicros(299) },
      "workspace|day|cents": { spent: centsToMicros(1000), reserved: 0 },
    });
    const d = decide(
      request({ scopes: [user([dailyCents(300)]), workspace([dailyCents(1000)])] }),
      usage,
      hard,
    );
    expect(d).toMatchObject({ action: "block", breach: { scope: { id: "workspace" }, inFlight: false } });
  });

  it("falls back to the cheaper model when the original does not fit and the fallback does", () => {
    // 3.2¢ left: gpt-4 input alone costs 3¢ (room for 33 output tokens ≥ 16)… make it 3.05¢: 8 tokens < 16.
    const usage = usageFrom({ "user:a|day|cents": { spent: centsToMicros(296.95), reserved: 0 } });
    const d = decide(request({ scopes: [user([dailyCents(300)])], fallback: gpt35 }), usage, hard);
    expect(d).toMatchObject({ action: "allow", fallbackFrom: "gpt-4" });
    if (d.action === "allow") {
      expect(d.model.name).toBe("gpt-3.5-turbo");
      expect(d.reserve.micros).toBeLessThanOrEqual(centsToMicros(3.05));
    }
  });

  it("blocks naming the narrowest scope, with spent and cap", () => {
    const usage = usageFrom({
      "user:a|day|cents": { spent: centsToMicros(300), reserved: 0 },
      "workspace|day|cents": { spent: centsToMicros(1000), reserved: 0 },
    });
    const d = decide(
      request({ scopes: [user([dailyCents(300)]), workspace([dailyCents(1000)])] }),
      usage,
      hard,
    );
    expect(d).toMatchObject({ action: "block", reason: "budget" });
    if (d.action === "block") {
      expect(d.breach.scope.id).toBe("user:a");
      expect(d.breach.spent).toBe(centsToMicros(300));
      expect(d.breach.cap).toBe(centsToMicros(300));
    }
  });

  it("counts reservations in flight, not only settled spend", () => {
    const usage = usageFrom({ "user:a|day|cents": { spent: 0, reserved: centsToMicros(299) } });
    expect(decide(request({ scopes: [user([dailyCents(300)])] }), usage, hard).action).toBe("block");
  });

  it("hard_stop_pct moves where blocking starts", () => {
    const usage = usageFrom({ "user:a|day|cents": { spent: centsToMicros(355), reserved: 0 } });
    const scopes = [user([dailyCents(300)])];
    expect(decide(request({ scopes }), usage, hard).action).toBe("block");
    const at120 = decide(request({ scopes }), usage, { ...hard, hardStopPct: 120 });
    // $3.60 − $3.55 = 5¢ of headroom: 3¢ input + 2¢ = 333 output tokens.
    expect(at120).toMatchObject({ action: "allow", maxOutputTokens: 333, clamped: true });
  });

  it("soft mode serves the full request and flags every budget it runs over", () => {
    const usage = usageFrom({ "user:a|day|cents": { spent: centsToMicros(300), reserved: 0 } });
    const d = decide(request({ scopes: [user([dailyCents(300)])], requestedMaxTokens: 800 }), usage, {
      ...hard,
      rejectOnExceed: false,
    });
    expect(d).toMatchObject({ action: "allow", maxOutputTokens: 800, clamped: false });
    if (d.action === "allow") expect(d.overruns.map((b) => b.scope.id)).toEqual(["user:a"]);
  });

  it("a request quota blocks with reason quota, even in soft mode", () => {
    const quota: Limit = { window: { kind: "month" }, unit: "requests", amount: 10, kind: "quota" };
    const usage = usageFrom({ "workspace|month|requests": { spent: 9, reserved: 1 } });
    const d = decide(request({ scopes: [workspace([quota])] }), usage, { ...hard, rejectOnExceed: false });
    expect(d).toMatchObject({ action: "block", reason: "quota" });
  });

  it("a tokens-per-minute rate limit blocks with reason rate", () => {
    const tpm: Limit = {
      window: { kind: "rolling", ms: 60_000, label: "1m" },
      unit: "tokens",
      amount: 2000,
      kind: "rate",
    };
    const usage = usageFrom({ "user:a|rolling|tokens": { spent: 1500, reserved: 0 } });
    expect(decide(request({ scopes: [user([tpm])] }), usage, hard)).toMatchObject({
      action: "block",
      reason: "rate",
    });
  });

  it("token budgets clamp output like dollar budgets", () => {
    const tokens: Limit = { window: { kind: "day" }, unit: "tokens", amount: 5000, kind: "budget" };
    const usage = usageFrom({ "user:a|day|tokens": { spent: 3500, reserved: 0 } });
    expect(decide(request({ scopes: [user([tokens])] }), usage, hard)).toMatchObject({
      action: "allow",
      maxOutputTokens: 500,
    });
  });

  it("per-request rules: too much input blocks, max_cost clamps output", () => {
    const big = decide(request({ inputTokens: 9000 }), usageFrom({}), {
      ...hard,
      perRequest: { maxInputTokens: 8000 },
    });
    expect(big).toMatchObject({ action: "block", reason: "request" });
    const capped = decide(request({}), usageFrom({}), { ...hard, perRequest: { maxCost: centsToMicros(9) } });
    // 9¢ − 3¢ input = 6¢ = 1000 output tokens
    expect(capped).toMatchObject({ action: "allow", maxOutputTokens: 1000, clamped: true });
  });

  it(`treats fewer than ${MIN_OUTPUT_TOKENS} affordable output tokens as not fitting, unless fewer were asked`, () => {
    // 3¢ input + 10 tokens (0.06¢) fit exactly; 16 do not.
    const usage = usageFrom({ "user:a|day|cents": { spent: centsToMicros(300 - 3.06), reserved: 0 } });
    const scopes = [user([dailyCents(300)])];
    expect(decide(request({ scopes }), usage, hard).action).toBe("block");
    expect(decide(request({ scopes, requestedMaxTokens: 10 }), usage, hard)).toMatchObject({
      action: "allow",
      maxOutputTokens: 10,
    });
  });
});

describe("decide: what the Responses API adds", () => {
  it("says clamped when the model's max_output_tokens lowers what the client asked for", () => {
    const capped = { ...gpt4, maxOutputTokens: 1000 };
    const d = decide(request({ model: capped, requestedMaxTokens: 5000 }), usageFrom({}), hard);
    expect(d).toMatchObject({ action: "allow", maxOutputTokens: 1000, clamped: true });
    const asked = decide(request({ model: capped, requestedMaxTokens: 800 }), usageFrom({}), hard);
    expect(asked).toMatchObject({ action: "allow", maxOutputTokens: 800, clamped: false });
  });

  it("reserves a model's fixed cost (built-in tool calls) beside the tokens, and clamps the output around it", () => {
    const tools = { ...gpt4, fixedCost: centsToMicros(10) };
    const free = decide(request({ model: tools, requestedMaxTokens: 500 }), usageFrom({}), hard);
    if (free.action !== "allow") throw new Error("blocked");
    expect(free.reserve.micros).toBe(centsToMicros(3 + 3 + 10));
    // 20¢: 3¢ input + 10¢ tools leave 7¢ → 1,166 output tokens at 6¢/1k.
    const tight = decide(request({ scopes: [user([dailyCents(20)])], model: tools }), usageFrom({}), hard);
    expect(tight).toMatchObject({ action: "allow", maxOutputTokens: 1166, clamped: true });
    const broke = decide(request({ scopes: [user([dailyCents(12)])], model: tools }), usageFrom({}), hard);
    expect(broke.action).toBe("block");
  });
});

describe("decide with long-context tiers", () => {
  // claude-sonnet-4: 0.3¢ / 1.5¢ per 1k; above 200k input tokens 0.6¢ / 2.25¢ for all of the request
  const TIERED: Prices = {
    input: centsToMicros(0.3),
    output: centsToMicros(1.5),
    cached_input: centsToMicros(0.03),
    cache_write: centsToMicros(0.375),
    cache_write_1h: centsToMicros(0.6),
    tiers: [
      {
        above_input_tokens: 200_000,
        input: centsToMicros(0.6),
        output: centsToMicros(2.25),
        cached_input: centsToMicros(0.06),
        cache_write: centsToMicros(0.75),
        cache_write_1h: centsToMicros(1.2),
      },
    ],
  };
  const sonnet = { name: "sonnet", provider: "anthropic", prices: TIERED, maxOutputTokens: 8192 };

  it("reserves input and output at the tier the input reaches", () => {
    const long = decide(
      request({ model: sonnet, inputTokens: 250_000, requestedMaxTokens: 1000 }),
      usageFrom({}),
      hard,
    );
    expect(long.action === "allow" && long.reserve.micros).toBe(centsToMicros(250 * 0.6 + 2.25));
    // more than 10% under the threshold: the base rates
    const short = decide(
      request({ model: sonnet, inputTokens: 180_000, requestedMaxTokens: 1000 }),
      usageFrom({}),
      hard,
    );
    expect(short.action === "allow" && short.reserve.micros).toBe(centsToMicros(180 * 0.3 + 1.5));
  });

  it("reserves at the tier when the estimate is within 10% under the threshold: the bill may cross it", () => {
    // the audit's case: 197,509 estimated, 215,000 billed — reserved 60.75¢ at the base rates, charged 131.25¢
    for (const inputTokens of [182_000, 197_509, 200_000]) {
      const d = decide(
        request({ model: sonnet, inputTokens, requestedMaxTokens: 1000 }),
        usageFrom({}),
        hard,
      );
      expect(d.action === "allow" && d.reserve.micros).toBe(
        Math.ceil((inputTokens * centsToMicros(0.6)) / 1000) + centsToMicros(2.25),
      );
    }
    // a $1.00 hard cap cannot hold 197,509 tokens at the tier (118.5¢): refused, not served over the cap
    const capped = decide(
      request({
        model: sonnet,
        inputTokens: 197_509,
        requestedMaxTokens: 1000,
        scopes: [user([dailyCents(100)])],
      }),
      usageFrom({}),
      hard,
    );
    expect(capped.action).toBe("block");
  });

  it("clamps at the same tier it reserves at", () => {
    // 130¢ left: 190k input at the tier's 0.6¢ = 114¢; 16¢ more pays 7,111 tokens at 2.25¢/1k (not 10,666 at 1.5¢)
    const d = decide(
      request({ model: sonnet, inputTokens: 190_000, scopes: [user([dailyCents(130)])] }),
      usageFrom({}),
      hard,
    );
    expect(d.action === "allow" && d.maxOutputTokens).toBe(7111);
    expect(d.action === "allow" && d.reserve.micros).toBeLessThanOrEqual(centsToMicros(130));
  });

  it("clamps output to what the budget pays for at the tier's output price", () => {
    // 151¢ left: 250k input at 0.6¢ = 150¢, 1¢ more pays 444 tokens at 2.25¢/1k (666 at the base 1.5¢)
    const d = decide(
      request({ model: sonnet, inputTokens: 250_000, scopes: [user([dailyCents(151)])] }),
      usageFrom({}),
      hard,
    );
    expect(d.action === "allow" && d.maxOutputTokens).toBe(444);
    expect(d.action === "allow" && d.reserve.micros).toBeLessThanOrEqual(centsToMicros(151));
  });
});
