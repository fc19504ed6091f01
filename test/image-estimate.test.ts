import { describe, expect, it } from "vitest";
import type { RunningProxy } from "../src/server/serve.js";
import { proxyHarness } from "./helpers/harness.js";

/**
 * Images are reserved as the most one may bill on the model: gpt-4o-mini
 * bills up to ~48k tokens for one high-detail image, so a flat 1,600 let a
 * request through a cap it could pass by far. Prices are 1 cent per 1k input
 * tokens so that the estimates read as cents: 1,600 tokens = 1.6 cents,
 * 48,200 = 48.2 cents, against a 10-cent daily cap.
 */
const h = proxyHarness(
  (fake) => `
budget:
  daily_limit_cents: 100000
  per_user_limits:
    enabled: true
    user_limits:
      tight: { daily_limit_cents: 10 }
providers:
  openai: { type: openai, api_key: sk-upstream, base_url: "${fake.url}/v1", timeout_ms: 2000 }
  anthropic: { type: anthropic, api_key: sk-ant-upstream, base_url: "${fake.url}", timeout_ms: 2000 }
models:
  gpt-4o-mini: { provider: openai, estimated_input_cost_per_1k: 1, estimated_output_cost_per_1k: 0.1, pin_price: true }
  vision: { provider: openai, upstream_model: gpt-4o-mini-2024-07-18, estimated_input_cost_per_1k: 1, estimated_output_cost_per_1k: 0.1, pin_price: true }
  mini-small-images: { provider: openai, upstream_model: gpt-4o-mini, image_input_tokens: 2000, estimated_input_cost_per_1k: 1, estimated_output_cost_per_1k: 0.1, pin_price: true }
  gpt-4o: { provider: openai, estimated_input_cost_per_1k: 1, estimated_output_cost_per_1k: 0.1, pin_price: true }
  claude: { provider: anthropic, estimated_input_cost_per_1k: 1, estimated_output_cost_per_1k: 0.1, pin_price: true }
  claude-big-images: { provider: anthropic, upstream_model: claude, image_input_tokens: 20000, estimated_input_cost_per_1k: 1, estimated_output_cost_per_1k: 0.1, pin_price: true }
`,
  { replyTokens: 10, prefix: "images" },
);

const PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

const chat = (model: string) => ({
  model,
  max_tokens: 50,
  messages: [
    {
      role: "user",
      content: [
        { type: "text", text: "What is this?" },
        { type: "image_url", image_url: { url: `data:image/png;base64,${PNG}`, detail: "high" } },
      ],
    },
  ],
});

const responses = (model: string) => ({
  model,
  max_output_tokens: 50,
  input: [
    {
      role: "user",
      content: [
        { type: "input_text", text: "What is this?" },
        { type: "input_image", image_url: `data:image/png;base64,${PNG}`, detail: "high" },
      ],
    },
  ],
});

const messages = (model: string) => ({
  model,
  max_tokens: 50,
  messages: [
    {
      role: "user",
      content: [
        { type: "text", text: "What is this?" },
        { type: "image", source: { type: "base64", media_type: "image/png", data: PNG } },
      ],
    },
  ],
});

async function post(proxy: RunningProxy, path: string, body: unknown) {
  const res = await fetch(`${proxy.url}${path}`, {
    method: "POST",
    headers: {
      authorization: "Bearer tight",
      "content-type": "application/json",
      "anthropic-version": "2023-06-01",
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

describe("an image is reserved as the most it may bill on the model", () => {
  it("one image to gpt-4o-mini (by name or upstream_model) is refused under a cap a flat 1,600 tokens would pass, on chat and responses", async () => {
    const { proxy } = await h.start();
    for (const [path, body] of [
      ["/v1/chat/completions", chat("gpt-4o-mini")],
      ["/v1/chat/completions", chat("vision")],
      ["/v1/responses", responses("gpt-4o-mini")],
      ["/v1/responses", responses("vision")],
    ] as const) {
      const { status, text } = await post(proxy, path, body);
      expect(status, `${path} ${body.model}: ${text}`).toBe(402);
      expect(text).toContain("budget_exceeded");
    }
    expect(h.fake.requests).toHaveLength(0);
  });

  it("other models keep the flat 1,600 per image, and a configured image_input_tokens is honoured both ways", async () => {
    // Each request on a fresh proxy (fresh ledger), so that what earlier ones spent plays no part.
    const first = async (path: string, body: unknown) => post((await h.start()).proxy, path, body);
    // gpt-4o: 85 + 8 × 170 = 1,445 at most, within 1,600: 1.6 cents fits the 10-cent cap.
    expect((await first("/v1/chat/completions", chat("gpt-4o"))).status).toBe(200);
    expect((await first("/v1/responses", responses("gpt-4o"))).status).toBe(200);
    // gpt-4o-mini configured down to 2,000 tokens an image: 2 cents fits.
    expect((await first("/v1/chat/completions", chat("mini-small-images"))).status).toBe(200);
    expect((await first("/v1/responses", responses("mini-small-images"))).status).toBe(200);
    // Anthropic images stay at 1,600 (with Claude's 25% tokenizer margin: 2 cents) unless configured higher.
    expect((await first("/v1/messages", messages("claude"))).status).toBe(200);
    const big = await first("/v1/messages", messages("claude-big-images"));
    expect(big.status, big.text).toBe(402);
    expect(h.fake.requests).toHaveLength(5);
  });
});
