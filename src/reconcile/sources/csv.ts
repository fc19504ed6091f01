import { basename } from "node:path";
import { CsvError, parse } from "csv-parse/sync";
import { TokenpakError } from "../../errors.js";
import { decimalToMicros } from "../../money/decimal.js";
import type { BilledCost, Billing } from "../diff.js";
import { billedModel } from "../models.js";
import { dayStart } from "../period.js";

/** The columns a cost CSV must have (any order, any case; other columns are ignored). */
export const CSV_COLUMNS = ["date", "model", "cost_usd"] as const;

function fail(file: string, line: number, message: string): never {
  throw new TokenpakError("csv_invalid", `${file}:${line}: ${message}`, { file, line });
}

/**
 * A provider's costs from a CSV file (an invoice export, a provider without
 * an API): a header naming `date,model,cost_usd`, one row per UTC day and
 * model (an empty model: the whole day), quoted fields allowed. Every row is
 * checked before any is used: a bad one names its line and nothing is read.
 * The days it covers are the days it has rows for.
 */
export function csvBilling(text: string, file: string): Billing {
  const name = basename(file);
  let header: string[] | undefined;
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parse(text, {
      columns: (names: string[]) => {
        header = names.map((h) => h.trim().toLowerCase());
        return header;
      },
      info: true,
      bom: true,
      trim: true,
      skip_empty_lines: true,
    }) as typeof records;
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    // "Invalid Record Length: columns length is 3, got 2 on line 3" → "columns length is 3, got 2"
    const message = error.message.replace(/ on line \d+$/, "").replace(/^Invalid Record Length: /, "");
    fail(file, Number((error as { lines?: unknown }).lines ?? 1), message);
  }
  if (!header)
    fail(file, 1, `empty file: expected a header ${CSV_COLUMNS.join(",")} and one row per day and model`);
  const missing = CSV_COLUMNS.filter((c) => !header?.includes(c));
  if (missing.length > 0) {
    fail(
      file,
      1,
      `the header has no ${missing.join(", ")} column (need ${CSV_COLUMNS.join(",")}; others are ignored)`,
    );
  }
  const costs: BilledCost[] = [];
  const days = new Set<string>();
  for (const { record, info } of records) {
    const line = info.lines;
    const date = record.date ?? "";
    if (dayStart(date) === undefined)
      fail(file, line, `date ${JSON.stringify(date)} is not a UTC date YYYY-MM-DD`);
    const amount = record.cost_usd ?? "";
    let cost: number;
    try {
      cost = decimalToMicros(amount, "usd");
    } catch {
      fail(
        file,
        line,
        `cost_usd ${JSON.stringify(amount)} is not an amount in dollars${amount.includes(",") ? " (use a dot for decimals, and no thousands separator)" : ""}`,
      );
    }
    days.add(date);
    costs.push({ day: date, ...billedModel(record.model ?? ""), cost });
  }
  return { source: `csv:${name}`, days: [...days].sort(), costs };
}
