import { Chalk, type ChalkInstance } from "chalk";
import type { Command } from "commander";
import type { Config } from "../../config/types.generated.js";
import type { StatusQuery, StatusReport, StatusRow } from "../../ledger/status.js";
import { type CliContext, type GlobalOptions, line, paint, type SetExitCode } from "../context.js";
import { EXIT_BLOCKED, EXIT_OK } from "../exit-codes.js";
import { amountText, fromNow, localTime } from "../format.js";
import { loadCommandConfig } from "../load.js";
import { type Painted, paintedColumns } from "../table.js";

interface StatusFlags {
  scope?: string;
  all?: boolean;
}

export function registerStatus(program: Command, ctx: CliContext, setExitCode: SetExitCode): void {
  program
    .command("status")
    // --json is the program's option: named here so that status --help shows it.
    .usage("[--scope PREFIX] [--all] [--json]")
    .description("every budget that applies now: spent, in flight, limit, when it resets, blocked or not")
    .option("--scope <prefix>", "only scopes whose id starts with this (project:, user:alice, key:ci)")
    .option("--all", "every limited scope, also those with no spend yet")
    .addHelpText(
      "after",
      "\nOne row per limit of each scope (scope ids: workspace, team:T, project:P, project:P/model:M,\n" +
        "key:K, user:U, model:M, run:R), most urgent first: BLOCKED (what is spent leaves too little for\n" +
        "the smallest request: refused until it resets), full (the same, but only while requests in\n" +
        "flight hold their worst case: new requests get 402 until those settle, a retry may pass),\n" +
        "over (soft mode), then by how full. By default only scopes with spend or requests in flight;\n" +
        "--all adds every scope the config gives a limit. With the proxy running the figures come\n" +
        "from it over its control socket, reservations in flight included; without, from the journal\n" +
        "and snapshot in the data directory. Bars are coloured on a terminal, plain under NO_COLOR,\n" +
        "--no-color or a pipe. Exits 0, or 6 when a budget shown refuses new requests (BLOCKED or full).\n" +
        "--json prints {source, rows, blocked, full, exit_code, ...} instead of the table.",
    )
    .action(async (_flags: StatusFlags, command: Command) => {
      setExitCode(await statusCommand(ctx, command.optsWithGlobals<GlobalOptions & StatusFlags>()));
    });
}

/** The status from the running daemon when one answers, else from the data directory's files. */
export async function readStatus(
  config: Readonly<Config>,
  dataDir: string,
  query: StatusQuery,
  now: number,
): Promise<StatusReport & { pid?: number; note?: string }> {
  const { daemonSession } = await import("../../server/control-client.js");
  const daemon = await daemonSession(dataDir);
  if (daemon) {
    const { budgetsOp } = await import("../../server/admin-budgets.js");
    try {
      const q = {
        ...(query.prefix !== undefined ? { scope: query.prefix } : {}),
        ...(query.all ? { all: "true" as const } : {}),
      };
      return {
        ...(await daemon.call(budgetsOp, q)),
        ...(daemon.pid !== undefined ? { pid: daemon.pid } : {}),
      };
    } finally {
      await daemon.close();
    }
  }
  const { compilePolicy } = await import("../../budget/policy.js");
  const { LedgerView } = await import("../../ledger/view.js");
  const { lockHolder } = await import("../../ledger/lock.js");
  const { FIRED_MARK, refusedByMarks } = await import("../../alerts/monitor.js");
  const { PriceBook } = await import("../../pricing/book.js");
  const { roomOfSmallest } = await import("../../ledger/room.js");
  const { KeyStore } = await import("../../keys/store.js");
  const { keyLimits } = await import("../../keys/keys.js");
  // The store's keys have limits of their own, as the daemon counts them (read only: nothing is written).
  const stored = (await KeyStore.open(dataDir)).keys;
  const policy = compilePolicy(config, keyLimits(config, stored));
  const view = await LedgerView.read(dataDir, policy);
  const report = view.budgetStatus(query, now, {
    refused: refusedByMarks(view.mark(FIRED_MARK), policy.timeZone, now),
    room: roomOfSmallest(config, new PriceBook({ config, dataDir }), policy.hardStopPct),
  });
  const holder = lockHolder(dataDir);
  return holder === undefined
    ? report
    : {
        ...report,
        pid: holder,
        note: `tokenpak (pid ${holder}) holds the ledger but has no control socket: requests in flight are not shown`,
      };
}

export async function statusCommand(ctx: CliContext, options: GlobalOptions & StatusFlags): Promise<number> {
  const { config, dataDir } = await loadCommandConfig(ctx, options);
  const now = Date.now();
  const report = await readStatus(config, dataDir, { prefix: options.scope, all: options.all }, now);
  const code = report.blocked > 0 ? EXIT_BLOCKED : EXIT_OK;
  if (options.json) {
    line(ctx.stdout, JSON.stringify({ data_dir: dataDir, ...report, exit_code: code }, null, 2));
    return code;
  }
  for (const text of statusLines(report, paint(ctx, options), now, options)) line(ctx.stdout, text);
  if (report.note !== undefined) line(ctx.stderr, `tokenpak: ${report.note}`);
  return code;
}

const BAR = 20;

/** A utilisation bar: settled spend, then what is in flight, of where blocking starts. */
export function bar(row: Pick<StatusRow, "spent" | "reserved" | "cap" | "state">, c: ChalkInstance): string {
  const share = (n: number) =>
    row.cap > 0 ? Math.min(BAR, Math.max(0, Math.round((n / row.cap) * BAR))) : 0;
  const spent = share(row.spent);
  const held = Math.max(0, share(row.spent + row.reserved) - spent);
  const plain = c.level === 0;
  const [full, part, empty] = plain ? ["#", "+", "."] : ["█", "▒", "░"];
  const colour =
    row.state === "blocked" || row.state === "full" || row.state === "over"
      ? c.red
      : row.state === "warning"
        ? c.yellow
        : c.green;
  return (
    colour(full.repeat(spent)) +
    c.yellow(part.repeat(held)) +
    c.dim(empty.repeat(Math.max(0, BAR - spent - held)))
  );
}

function limitCell(r: StatusRow): string {
  const raised = r.override?.amount ?? 0;
  let text = amountText(r.unit, r.limit);
  if (raised > 0) text += ` +${amountText(r.unit, raised)}`;
  // hard_stop_pct moves where it blocks.
  if (r.cap !== r.limit + raised) text += ` (stop ${amountText(r.unit, r.cap)})`;
  return text;
}

function resetCell(r: StatusRow, timeZone: string, now: number): string {
  if (r.resets_at === null) return r.window === "total" ? "never" : "-";
  const at = Date.parse(r.resets_at);
  return `${localTime(at, timeZone)} (${fromNow(at, now)})`;
}

function stateCell(r: StatusRow, c: ChalkInstance): string {
  switch (r.state) {
    case "blocked":
      return c.red.bold("BLOCKED");
    case "full":
      return c.red("full: refusing (in flight)");
    case "over":
      return c.red("over (soft)");
    case "warning":
      return c.yellow("warning");
    case "ok":
      return c.green("ok");
  }
}

/** The status table: a title, one line per limit, the overrides in force, a verdict. */
export function statusLines(
  report: StatusReport & { pid?: number },
  c: ChalkInstance,
  now: number,
  query: StatusQuery & { scope?: string | undefined },
): string[] {
  const where =
    report.source === "daemon"
      ? `live from the proxy (pid ${report.pid ?? "?"}), requests in flight included`
      : "from the journal (no proxy running: nothing in flight)";
  const out = [
    c.bold(`Budgets at ${localTime(Date.parse(report.at), report.timezone)} ${report.timezone}, ${where}`),
  ];
  if (report.rows.length === 0) {
    const prefix = query.prefix ?? query.scope;
    out.push(
      prefix !== undefined
        ? `no limited scope${query.all ? "" : " with spend"} matches --scope ${prefix}`
        : query.all
          ? "no scope has a limit"
          : "no budget has spend yet; --all shows every limited scope",
    );
    return out;
  }
  const header = ["SCOPE", "WINDOW", "SPENT", "IN FLIGHT", "LIMIT", "USED", "", "RESETS", "STATE"];
  const plainPaint = new Chalk({ level: 0 });
  const painted = (f: (p: ChalkInstance) => string): Painted => ({ plain: f(plainPaint), painted: f(c) });
  const rows = report.rows.map((r) => [
    r.scope,
    r.window,
    amountText(r.unit, r.spent),
    r.reserved !== 0 ? amountText(r.unit, r.reserved) : "-",
    limitCell(r),
    painted((p) => bar(r, p)),
    `${Math.round(r.used_pct)}%`,
    resetCell(r, report.timezone, now),
    painted((p) => stateCell(r, p)),
  ]);
  const [head, ...body] = paintedColumns([header, ...rows], new Set([2, 3, 6]));
  out.push(c.dim(head ?? ""), ...body);
  for (const r of report.rows) {
    const o = r.override;
    if (!o) continue;
    const until = localTime(Date.parse(o.until), report.timezone);
    out.push(
      `  ${r.scope} ${r.window}: +${amountText(r.unit, o.amount)} override until ${until} (${o.ids.join(", ")})`,
    );
  }
  out.push(verdict(report, c));
  return out;
}

const budgets = (n: number) => `${n} budget${n === 1 ? "" : "s"}`;

/** The last line: whether anything refuses new requests, and whether retrying can help. */
function verdict(report: Pick<StatusReport, "blocked" | "full">, c: ChalkInstance): string {
  if (report.blocked === 0) return `${c.green("✓")} nothing is blocked`;
  const reached = report.blocked - report.full;
  const parts = [
    ...(reached > 0
      ? [
          `${reached} reached ${reached === 1 ? "its limit (refused until it resets)" : "their limits (refused until they reset)"}`,
        ]
      : []),
    ...(report.full > 0
      ? [`${report.full} held by requests in flight (402 until they settle; a retry may pass)`]
      : []),
  ];
  return c.red(
    `✗ ${budgets(report.blocked)} refuse${report.blocked === 1 ? "s" : ""} new requests: ${parts.join("; ")}`,
  );
}
