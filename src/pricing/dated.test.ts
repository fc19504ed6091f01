import { describe, expect, it } from "vitest";
import { undated, undatedPreview } from "./dated.js";

describe("undated: the one reading of a snapshot date, for prices and for bills", () => {
  it.each([
    ["gpt-4o-2024-08-06", "gpt-4o"],
    ["claude-3-5-sonnet-20241022", "claude-3-5-sonnet"],
    ["claude-3-5-sonnet-latest", "claude-3-5-sonnet"],
    ["gpt-3.5-turbo-0125", "gpt-3.5-turbo"],
    ["gpt-4-0613", "gpt-4"],
    ["llama3-8b-8192", "llama3-8b-8192"], // a context size, not a date
    ["gpt-4-turbo", "gpt-4-turbo"],
    ["gpt-4-1106-preview", "gpt-4-1106-preview"],
  ])("%s → %s", (name, want) => {
    expect(undated(name)).toBe(want);
  });

  it("a dated preview keeps -preview and loses its date", () => {
    expect(undatedPreview("gpt-4-1106-preview")).toBe("gpt-4-preview");
    expect(undatedPreview("gpt-4-0125-preview")).toBe("gpt-4-preview");
    expect(undatedPreview("gpt-4o-2024-08-06")).toBe("gpt-4o");
  });
});
