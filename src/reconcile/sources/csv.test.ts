import { describe, expect, it } from "vitest";
import { csvBilling } from "./csv.js";

describe("csvBilling", () => {
  it("reads the documented columns in any order and case, quoted fields, a BOM; ignores the rest", () => {
    const text =
      "\uFEFFModel,Notes,COST_USD,Date\r\n" +
      '"gpt-4o-2024-08-06","chat, streamed","1.50",2026-03-01\r\n' +
      '"",web search,0.25,2026-03-01\r\n' +
      "\r\n" +
      "claude-sonnet-4-20250514,,-0.10,2026-03-02\r\n";
    expect(csvBilling(text, "/tmp/march.csv")).toEqual({
      source: "csv:march.csv",
      days: ["2026-03-01", "2026-03-02"],
      costs: [
        { day: "2026-03-01", model: "gpt-4o", billed_as: "gpt-4o-2024-08-06", cost: 150_000_000 },
        { day: "2026-03-01", model: "", cost: 25_000_000 },
        {
          day: "2026-03-02",
          model: "claude-sonnet-4",
          billed_as: "claude-sonnet-4-20250514",
          cost: -10_000_000,
        },
      ],
    });
  });

  it.each([
    ["", /^f\.csv:1: empty file: expected a header date,model,cost_usd/],
    ["date,model\n2026-03-01,x\n", /^f\.csv:1: the header has no cost_usd column/],
    [
      "date,model,cost_usd\n2026-03-01,x,1\n2026-03-32,x,1\n",
      /^f\.csv:3: date "2026-03-32" is not a UTC date YYYY-MM-DD/,
    ],
    ["date,model,cost_usd\n03/01/2026,x,1\n", /^f\.csv:2: date "03\/01\/2026" is not a UTC date/],
    [
      "date,model,cost_usd\n2026-03-01,x,$1.00\n",
      /^f\.csv:2: cost_usd "\$1\.00" is not an amount in dollars$/,
    ],
    [
      'date,model,cost_usd\n2026-03-01,x,"1,000.00"\n',
      /^f\.csv:2: cost_usd "1,000.00" is not an amount in dollars \(use a dot/,
    ],
    ['date,model,cost_usd\n2026-03-01,x,1\n2026-03-02,"x,2\n', /^f\.csv:3: Quote Not Closed/],
    ["date,model,cost_usd\n2026-03-01,x,1,extra\n", /^f\.csv:2: columns length is 3, got 4/],
  ])("%j is refused with its line", (text, message) => {
    expect(() => csvBilling(text, "f.csv")).toThrow(message);
  });
});
