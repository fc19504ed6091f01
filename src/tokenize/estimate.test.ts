import { countTokens } from "gpt-tokenizer";
import { describe, expect, it } from "vitest";
import {
  estimateChatInput,
  estimateEmbeddingsInput,
  estimateMessagesInput,
  estimateResponsesInput,
} from "./estimate.js";

describe("input estimates", () => {
  const text = "Write 100 words of code about budgets.";
  const n = countTokens(text);

  it("counts OpenAI chat messages with the tokenizer plus per-message overhead", () => {
    const one = estimateChatInput({ messages: [{ role: "user", content: text }] }, "openai");
    const two = estimateChatInput(
      {
        messages: [
          { role: "system", content: text },
          { role: "user", content: text },
        ],
      },
      "openai",
    );
    expect(one).toBe(3 + 4 + n);
    expect(two - one).toBe(4 + n);
  });

  it("counts text parts, prices images conservatively, and includes tool schemas", () => {
    const parts = estimateChatInput(
      {
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text },
              { type: "image_url", image_url: { url: "x" } },
            ],
          },
        ],
      },
      "openai",
    );
    expect(parts).toBe(3 + 4 + n + 1600);
    const tools = [{ type: "function", function: { name: "f", parameters: { type: "object" } } }];
    expect(estimateChatInput({ messages: [], tools }, "openai")).toBe(
      3 + countTokens(JSON.stringify(tools[0])),
    );
  });

  it("a file sent inline is a token per byte of the file, in every route's format (its base64 text tokenizes at less)", () => {
    const bytes = 30_000;
    const data = Buffer.alloc(bytes, 0x9c).toString("base64");
    expect(countTokens(data)).toBeLessThan(bytes);
    const responses = estimateResponsesInput(
      {
        input: [
          {
            role: "user",
            content: [
              { type: "input_file", filename: "a.pdf", file_data: `data:application/pdf;base64,${data}` },
            ],
          },
        ],
      },
      "openai",
    );
    const chat = estimateChatInput(
      {
        messages: [
          {
            role: "user",
            content: [
              { type: "file", file: { filename: "a.pdf", file_data: `data:application/pdf;base64,${data}` } },
            ],
          },
        ],
      },
      "openai",
    );
    const document = { type: "document", source: { type: "base64", media_type: "application/pdf", data } };
    const messages = estimateMessagesInput({ messages: [{ role: "user", content: [document] }] }, "openai");
    const overhead = 3 + 4 + 4;
    expect(responses).toBe(overhead + bytes + countTokens("a.pdf"));
    expect(chat).toBe(overhead + bytes + countTokens("a.pdf"));
    expect(messages).toBe(overhead + bytes);
  });

  it("counts the Anthropic system prompt, and adds a 25% margin for other tokenizers", () => {
    const body = { system: text, messages: [{ role: "user", content: [{ type: "text", text }] }] };
    expect(estimateMessagesInput(body, "openai")).toBe(3 + n + 4 + n);
    expect(estimateMessagesInput(body, "other")).toBe(Math.ceil((3 + n + 4 + n) * 1.25));
  });

  it("embeddings: strings, lists of strings, and token arrays", () => {
    expect(estimateEmbeddingsInput({ input: text }, "openai")).toBe(n);
    expect(estimateEmbeddingsInput({ input: [text, text] }, "openai")).toBe(2 * n);
    expect(estimateEmbeddingsInput({ input: [[1, 2, 3], [4]] }, "openai")).toBe(4);
  });

  it("reads special-token text in prompts as plain text instead of failing", () => {
    expect(
      estimateChatInput({ messages: [{ role: "user", content: "a <|endoftext|> b" }] }, "openai"),
    ).toBeGreaterThan(7);
  });
});
