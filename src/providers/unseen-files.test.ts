import { describe, expect, it } from "vitest";
import { unseenFiles } from "./unseen-files.js";

const pdf = "data:application/pdf;base64,JVBERi0=";

describe("files the provider reads that the request does not carry", () => {
  it.each([
    ["responses", { input: [{ role: "user", content: [{ type: "input_file", file_id: "file-1" }] }] }, 1],
    [
      "responses",
      { input: [{ role: "user", content: [{ type: "input_file", file_url: "https://x/a.pdf" }] }] },
      1,
    ],
    ["responses", { input: [{ role: "user", content: [{ type: "input_file", file_data: pdf }] }] }, 0],
    [
      "responses",
      {
        input: [
          { type: "function_call_output", call_id: "c", output: [{ type: "input_file", file_id: "f" }] },
        ],
      },
      1,
    ],
    ["responses", { input: [{ role: "user", content: [{ type: "input_image", file_id: "file-1" }] }] }, 0],
    ["responses", { input: "hi", tools: [{ type: "function", parameters: { type: "input_file" } }] }, 0],
    ["chat", { messages: [{ role: "user", content: [{ type: "file", file: { file_id: "file-1" } }] }] }, 1],
    ["chat", { messages: [{ role: "user", content: [{ type: "file", file: { file_data: pdf } }] }] }, 0],
    [
      "messages",
      {
        messages: [
          {
            role: "user",
            content: [
              { type: "document", source: { type: "url", url: "https://x/a.pdf" } },
              { type: "document", source: { type: "file", file_id: "file_1" } },
              {
                type: "document",
                source: { type: "base64", media_type: "application/pdf", data: "JVBERi0=" },
              },
              { type: "document", source: { type: "text", media_type: "text/plain", data: "hi" } },
            ],
          },
        ],
      },
      2,
    ],
    [
      "messages",
      {
        messages: [
          {
            role: "user",
            content: [
              {
                type: "tool_result",
                tool_use_id: "t",
                content: [{ type: "document", source: { type: "url", url: "u" } }],
              },
            ],
          },
        ],
      },
      1,
    ],
    // Each route reads only its own format's parts.
    ["chat", { messages: [{ role: "user", content: [{ type: "input_file", file_id: "file-1" }] }] }, 0],
  ] as const)("%s %j → %i", (route, body, n) => {
    expect(unseenFiles(route, body as Record<string, unknown>)).toBe(n);
  });
});
