import { describe, expect, it } from "vitest";
import { MAX_JSON_DEPTH, nestedDeeperThan, validateRequest } from "./validate.js";

const messages = [{ role: "user", content: "hi" }];

describe("validateRequest", () => {
  it.each([
    [
      { model: "m", messages },
      { model: "m", stream: false, maxOutputTokens: undefined, choices: 1 },
    ],
    [
      { model: "m", messages, stream: true, max_tokens: 50 },
      { stream: true, maxOutputTokens: 50 },
    ],
    [{ model: "m", messages, max_tokens: 100, max_completion_tokens: 40 }, { maxOutputTokens: 40 }],
    [
      { model: "m", messages, max_tokens: null, stream: null },
      { maxOutputTokens: undefined, stream: false },
    ],
    [{ model: "m", messages, n: 3 }, { choices: 3 }],
    [{ model: "m", messages, n: 2, best_of: 4 }, { choices: 4 }],
  ])("chat %j reads as %j", (body, shape) => {
    expect(validateRequest("chat", body)).toMatchObject(shape);
  });

  it.each([
    [
      { model: "m", messages, max_tokens: -1 },
      "max_tokens",
      "`max_tokens` must be a positive integer, got -1",
    ],
    [{ model: "m", messages, max_tokens: 0 }, "max_tokens", "positive integer"],
    [{ model: "m", messages, max_tokens: 2.5 }, "max_tokens", "positive integer"],
    [{ model: "m", messages, max_tokens: "100" }, "max_tokens", "positive integer"],
    [{ model: "m", messages, max_tokens: 1e300 }, "max_tokens", "positive integer"],
    [{ model: "m", messages, max_completion_tokens: -3 }, "max_completion_tokens", "positive integer"],
    [{ model: "m", messages, n: 0 }, "n", "`n` must be a positive integer"],
    [{ model: "m", messages, stream: "true" }, "stream", "`stream` must be true or false"],
    [{ model: 7, messages }, "model", "`model` must be a string"],
    [{ messages }, "model", "`model` is required"],
    [{ model: "m" }, "messages", "`messages` must be an array"],
    [{ model: "m", messages: "hi" }, "messages", "`messages` must be an array"],
  ])("chat %j is refused naming %s", (body, param, message) => {
    expect(() => validateRequest("chat", body)).toThrow(
      expect.objectContaining({
        code: "invalid_request",
        details: { param },
        message: expect.stringContaining(message),
      }),
    );
  });

  it("messages: only max_tokens caps output, and Anthropic has no n", () => {
    expect(validateRequest("messages", { model: "m", messages, max_tokens: 9, n: 5 })).toMatchObject({
      maxOutputTokens: 9,
      choices: 1,
    });
    expect(() => validateRequest("messages", { model: "m", messages, max_tokens: -9 })).toThrow(/max_tokens/);
  });

  it("embeddings need no messages and never stream", () => {
    expect(validateRequest("embeddings", { model: "m", input: "x", stream: true })).toMatchObject({
      stream: false,
    });
  });

  it("nesting is measured without recursion, so no depth overflows it", () => {
    let deep: unknown = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(nestedDeeperThan(deep, MAX_JSON_DEPTH)).toBe(true);
    expect(nestedDeeperThan({ a: [{ b: [1, 2, { c: "x" }] }] }, 5)).toBe(false);
    expect(nestedDeeperThan({ a: [{ b: [1, 2, { c: [] }] }] }, 5)).toBe(true);
    expect(() => validateRequest("chat", { model: "m", messages, tools: deep })).toThrow(
      /nested deeper than/,
    );
  });
});

describe("validateRequest: the Responses API", () => {
  it.each([
    [
      { model: "m", input: "hi" },
      { maxOutputTokens: undefined, builtinTools: [], stored: undefined },
    ],
    [
      { model: "m", input: [{ role: "user", content: "hi" }], max_output_tokens: 64 },
      { maxOutputTokens: 64 },
    ],
    [{ model: "m" }, { stored: undefined }],
    [
      { model: "m", input: "hi", tools: [{ type: "function", name: "f" }, { type: "web_search_preview" }] },
      { builtinTools: ["web_search"], maxToolCalls: undefined },
    ],
    [{ model: "m", input: "hi", tools: [{ type: "file_search" }], max_tool_calls: 3 }, { maxToolCalls: 3 }],
    [
      { model: "m", previous_response_id: "resp_1", input: [{ type: "item_reference", id: "msg_1" }] },
      { stored: { previousResponseId: "resp_1", prompt: false, items: ["msg_1"] } },
    ],
    [
      { model: "m", conversation: { id: "conv_1" } },
      { stored: { conversationId: "conv_1", prompt: false, items: [] } },
    ],
    [{ model: "m", prompt: { id: "pmpt_1" } }, { stored: { prompt: true, items: [] } }],
  ])("%j reads as %j", (body, shape) => {
    expect(validateRequest("responses", body)).toMatchObject(shape);
  });

  it.each([
    [{ model: "m", input: 5 }, "input"],
    [{ model: "m", input: "hi", max_output_tokens: 0 }, "max_output_tokens"],
    [{ model: "m", input: "hi", max_tool_calls: -1 }, "max_tool_calls"],
    [{ model: "m", input: "hi", tools: "web_search" }, "tools"],
    [{ model: "m", previous_response_id: 1 }, "previous_response_id"],
    [{ model: "m", conversation: 1 }, "conversation"],
    [{ model: "m", input: [{ type: "item_reference" }] }, "input"],
    [{ model: "m", input: "hi", background: true }, "background"],
  ])("refuses %j naming %s", (body, param) => {
    expect(() => validateRequest("responses", body)).toThrow(
      expect.objectContaining({ code: "invalid_request", details: { param } }),
    );
  });
});
