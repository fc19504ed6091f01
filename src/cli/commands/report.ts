import { renameSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { ChalkInstance } from "chalk";
import { type Command, Option } from "commander";
import { TokenpakError } from "../../errors.js";
import {
  DIMENSIONS,
  type Dimension,
  type Figures,
  type Report,
  type ReportNode,
} from "../../ledger/report.js";
import type { ReportPeriod } from "../../ledger/report-period.js";
import { formatUsd, usdFixed } from "../../money/money.js";
import { type CliContext, type GlobalOptions, line, paint, type SetExitCode } from "../context.js";
import { loadCommandConfig } from "../load.js";
import { columns } from "../table.js";

const FORMATS = ["table", "csv", "json"] as const;
type Format = (typeof FORMATS)[number];

interface ReportFlags {
  by: string[];
  period?: string;
  since?: string;
  until?: string;
  provider?: string;
  format?: string;
  output?: string;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(",").map((v) => v.trim())];
}

export function registerReport(program: Command, ctx: CliContext, setExitCode: SetExitCode): void {
  program
    .command("report")
    .description("spend, tokens and requests per group over a period: for invoices and reviews")
    .addOption(
      new Option("--by <dimension>", `group by ${DIMENSIONS.join("|")}; repeat (or a,b) to nest groups`)
        .argParser(collect)
        .default([], "the totals only"),
    )
    .option("--period <p>", "YYYY, YYYY-MM, YYYY-MM-DD, today, yesterday, this-month or last-month")
    .option("--since <date>", "first local day YYYY-MM-DD (default: the 1st of --until's month)")
    .option("--until <date>", "last local day YYYY-MM-DD, included (default: today)")
    .option("--provider <name>", "only this provider's spend")
    .option("--format <format>", "table, csv or json (default table; --json means json)")
    .option("--output <file>", "write the report to FILE instead of stdout")
    .addHelpText(
      "after",
      "\nDays and months are local days in budget.timezone; the default period is this month so far.\n" +
        "Each group shows requests, input (uncached, cache writes included), cached and output tokens,\n" +
        "the metered spend, the adjustments (reconcile-spend's corrections to the period, on the day\n" +
        "they correct) and their total. `--by project --by model` nests: each project, then its models.\n" +
        "CSV has one row per innermost group and a header row; money twice, as dollars with 8 decimals\n" +
        "and as integer micro-cents (1 cent = 1,000,000), so a spreadsheet's sum equals the ledger's.\n" +
        "The journal is read a line at a time, the months the period needs (later months for their\n" +
        "adjustments only); compacted months come from their rollups, by day, and the report says so.\n" +
        "Reports read the data directory without the lock: the proxy may be running.",
    )
    .action(async (_flags: unknown, command: Command) => {
      setExitCode(await reportCommand(ctx, command.optsWithGlobals<GlobalOptions & ReportFlags>()));
    });
}

function dimensionsOf(by: readonly string[]): Dimension[] {
  const dims: Dimension[] = [];
  for (const d of by) {
    if (d === "") continue;
    if (!(DIMENSIONS as readonly string[]).includes(d)) {
      throw new TokenpakError("invalid_argument", `--by must be one of ${DIMENSIONS.join(", ")}, got ${d}`);
    }
    if (dims.includes(d as Dimension))
      throw new TokenpakError("invalid_argument", `--by ${d} is given twice`);
    dims.push(d as Dimension);
  }
  return dims;
}

function formatOf(options: GlobalOptions & ReportFlags): Format {
  const f = options.format ?? (options.json ? "json" : "table");
  if (!(FORMATS as readonly string[]).includes(f)) {
    throw new TokenpakError("invalid_argument", `--format must be table, csv or json, got ${f}`);
  }
  return f as Format;
}

export async function reportCommand(ctx: CliContext, options: GlobalOptions & ReportFlags): Promise<number> {
  const { spendReport } = await import("../../ledger/report.js");
  const { reportPeriod } = await import("../../ledger/report-period.js");
  const groupBy = dimensionsOf(options.by ?? []);
  const format = formatOf(options);
  const { config, dataDir } = await loadCommandConfig(ctx, options);
  const timeZone = config.budget.timezone;
  const period = reportPeriod(options, timeZone, Date.now());
  const report = await spendReport(dataDir, {
    from: period.from,
    to: period.to,
    groupBy,
    timeZone,
    provider: options.provider,
  });
  const c = paint(ctx, options);
  const text =
    format === "json"
      ? `${JSON.stringify({ since: period.since, until: period.until, ...report }, null, 2)}\n`
      : format === "csv"
        ? await reportCsv(report)
        : `${reportTable(report, period, options.output !== undefined ? paint(ctx, { color: false }) : c).join("\n")}\n`;
  // The notes of a CSV go to stderr: the file itself is data only.
  if (format === "csv") for (const note of notes(report)) line(ctx.stderr, `tokenpak: ${note}`);
  if (options.output === undefined) {
    ctx.stdout.write(text);
    return 0;
  }
  const file = resolve(ctx.cwd, options.output);
  const temp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, text, { mode: 0o600 });
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
  line(
    ctx.stderr,
    `tokenpak: wrote ${report.rows.length} group${report.rows.length === 1 ? "" : "s"} to ${file}`,
  );
  return 0;
}

function notes(report: Report): string[] {
  const out: string[] = [];
  if (report.rollups.length > 0)
    out.push(
      `${report.rollups.join(", ")} ${report.rollups.length === 1 ? "is a rollup" : "are rollups"} (compacted): by day, without per-request detail`,
    );
  return [...out, ...report.warnings];
}

const CSV_MONEY = ["spend", "adjustments", "total"] as const;

/**
 * The CSV: a header row, one row per innermost group; every money column as
 * dollars and as µ¢. Group values (users, run ids: client input) that start
 * like a formula (`=`, `+`, `-`, `@`, …) get a leading `'` from csv-stringify's
 * escape_formulas, so a spreadsheet shows them as text instead of running
 * them. It leaves a number's minus sign alone but not a string's: the dollar
 * cells go in as bigint µ¢ and are written by cast.bigint, so a negative
 * amount stays a number a spreadsheet adds up.
 */
export async function reportCsv(report: Report): Promise<string> {
  const { stringify } = await import("csv-stringify/sync");
  const header = [
    ...report.group_by,
    "requests",
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    ...CSV_MONEY.flatMap((m) => [`${m}_usd`, `${m}_microcents`]),
  ];
  const records = report.rows.map((r) => [
    ...report.group_by.map((d) => r.group[d] ?? ""),
    r.requests,
    r.input_tokens,
    r.cached_tokens,
    r.output_tokens,
    ...CSV_MONEY.flatMap((m) => [BigInt(r[m]), r[m]]),
  ]);
  return stringify([header, ...records], {
    escape_formulas: true,
    cast: { bigint: (micros) => usdFixed(Number(micros)) },
  });
}

function figureCells(f: Figures): string[] {
  const n = (x: number) => x.toLocaleString("en-US");
  return [
    n(f.requests),
    n(f.input_tokens),
    n(f.cached_tokens),
    n(f.output_tokens),
    formatUsd(f.spend),
    f.adjustments === 0 ? "-" : formatUsd(f.adjustments),
    formatUsd(f.total),
  ];
}

/** The table: a title, the groups (nested ones indented under their parent, with its subtotal), the total. */
export function reportTable(
  report: Report,
  period: Pick<ReportPeriod, "since" | "until">,
  c: ChalkInstance,
): string[] {
  const by = report.group_by.length > 0 ? `by ${report.group_by.join(" › ")}` : "in total";
  const provider = report.provider !== null ? `, provider ${report.provider}` : "";
  const out = [c.bold(`Spend ${period.since} … ${period.until} (${report.timezone}), ${by}${provider}`)];
  for (const note of notes(report)) out.push(c.yellow(`! ${note}`));
  const header = [
    report.group_by.length > 0 ? report.group_by.map((d) => d.toUpperCase()).join(" › ") : "",
    "REQUESTS",
    "INPUT",
    "CACHED",
    "OUTPUT",
    "SPEND",
    "ADJUSTMENTS",
    "TOTAL",
  ];
  const rows: string[][] = [header];
  const levels: number[] = [-1];
  const walk = (nodes: readonly ReportNode[], depth: number) => {
    for (const node of nodes) {
      rows.push([`${"  ".repeat(depth)}${node.value ?? "(none)"}`, ...figureCells(node)]);
      levels.push(node.groups ? depth : -2);
      if (node.groups) walk(node.groups, depth + 1);
    }
  };
  walk(report.groups, 0);
  rows.push(["TOTAL", ...figureCells(report.totals)]);
  const lines = columns(rows, new Set([1, 2, 3, 4, 5, 6, 7]));
  for (const [i, text] of lines.entries()) {
    if (i === 0) out.push(c.dim(text));
    else if (i === lines.length - 1 || (levels[i] ?? -2) >= 0) out.push(c.bold(text));
    else out.push(text);
  }
  if (report.totals.requests === 0 && report.totals.adjustments === 0)
    out.push(c.dim("no spend in this period"));
  return out;
}
