import { describe, expect, it } from "vitest";
import { jsonErrorOffset } from "./json-offset.js";

describe("jsonErrorOffset", () => {
  it("finds where JSON.parse gave up, in bytes, without quoting anything", () => {
    const cases: [string, number][] = [
      ["root:x:0:0:root:/root:/bin/bash", 0],
      ['{"a": 1,}', 8],
      ['{"a"', 4],
      ["", 0],
      ["[1, 2", 5],
      ['{"a": tru}', 6],
      ['"abc', 4],
      ['{"é": x}', 7], // é is two bytes
      ['{"a": [1, {"b": null}], "c": "\\u00e9\\n"} x', 41],
      ['{"a": "\\x"}', 7],
      ["[01]", 2],
      ["<html><body>Service Unavailable</body></html>", 0],
    ];
    for (const [text, offset] of cases) {
      expect(() => JSON.parse(text)).toThrow();
      expect([text, jsonErrorOffset(text)]).toEqual([text, offset]);
    }
  });

  it("says nothing is wrong with JSON, however deep", () => {
    for (const text of [
      '{"a": [1, -2.5e3, true, false, null, "x\\"y"], "b": {}}',
      " [] ",
      "3",
      `${"[".repeat(100_000)}${"]".repeat(100_000)}`,
    ]) {
      expect(() => JSON.parse(text)).not.toThrow();
      expect(jsonErrorOffset(text)).toBeUndefined();
    }
    expect(jsonErrorOffset("[".repeat(100_000))).toBe(100_000);
  });
});
