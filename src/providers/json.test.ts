import { describe, expect, it } from "vitest";
import { withMember } from "./json.js";

describe("withMember", () => {
  const add = (text: string) => withMember(text, JSON.parse(text) as Record<string, unknown>, "n", 7);

  it("writes the member before the closing brace and leaves every other byte alone", () => {
    expect(add('{ "a" : "caf\\u00e9" }\n')).toBe('{ "a" : "caf\\u00e9" ,"n":7}\n');
    expect(JSON.parse(add('{"a":{"b":[1,{}]}}') ?? "")).toEqual({ a: { b: [1, {}] }, n: 7 });
  });

  it("needs no comma in an empty object", () => {
    expect(add("{}")).toBe('{"n":7}');
    expect(add(" { } ")).toBe(' { "n":7} ');
  });

  it("declines when the member is already there", () => {
    expect(add('{"n":1}')).toBeUndefined();
  });
});
