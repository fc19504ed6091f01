import type { Command } from "commander";
import { TokenpakError } from "../../errors.js";
import { formatCents } from "../../money/money.js";
import type { OverrideView } from "../../server/admin-overrides.js";
import { cents } from "../args.js";
import { type CliContext, type GlobalOptions, line, paint, type SetExitCode } from "../context.js";
import { columns } from "../table.js";
import { through, withSession } from "./keys.js";

interface OverrideFlags {
  scope?: string;
  window?: string;
  addCents?: string;
  until?: string;
  reason?: string;
  list?: boolean;
  cancel?: string;
}

export function registerBudget(program: Command, ctx: CliContext, setExitCode: SetExitCode): void {
  const budget = program.command("budget").description("budgets while the proxy serves: emergency overrides");
  budget
    .command("override")
    .description("raise a scope's dollar limit for a while (recorded in the journal, with who and why)")
    .option(
      "--scope <scope>",
      "workspace, project:NAME, team:NAME, key:NAME, user:NAME, model:NAME, project:NAME/model:M",
    )
    .option(
      "--window <window>",
      "daily, monthly or a rolling window the scope has (default: each of its dollar limits)",
    )
    .option("--add-cents <cents>", "how much to add to the limit (5000 = $50.00)")
    .option(
      "--until <when>",
      "when it ends: 6h, 2026-11-30 (through that day), 2026-11-30T18:00Z (default: the window's end)",
    )
    .option("--reason <text>", "why: kept in the journal with your user name")
    .option("--list", "the overrides in force")
    .option("--cancel <id>", "end an override now")
    .addHelpText(
      "after",
      "\nAn override adds to the limit itself: a $50 daily limit with a $50 override refuses at $100\n" +
        '(× hard_stop_pct), and a refusal says so: "limit ($50.00 + override $50.00 until …)". It ends\n' +
        "by itself at --until (default: when the current window ends — tonight for daily, the month's end\n" +
        "for monthly). It is a journal entry: it survives a restart. With the proxy running it goes\n" +
        "through its control socket and the next request sees it. See docs/operations.md.",
    )
    .action(async (_flags: unknown, command: Command) => {
      setExitCode(await overrideCommand(ctx, command.optsWithGlobals<GlobalOptions & OverrideFlags>()));
    });
}

/** The words `--window` also takes for the calendar windows. */
const WINDOW_ALIASES: Readonly<Record<string, string>> = { day: "daily", month: "monthly" };

function describe(o: OverrideView): string {
  return `${o.scope} ${o.window ?? "every dollar limit"} +${formatCents(o.add_cents)} until ${o.until}`;
}

function mode(options: OverrideFlags): "list" | "cancel" | "add" {
  const adding = [options.scope, options.window, options.addCents, options.until, options.reason].some(
    (v) => v !== undefined,
  );
  const chosen = [options.list === true, options.cancel !== undefined, adding].filter(Boolean).length;
  if (chosen > 1) {
    throw new TokenpakError(
      "usage",
      "give one of: --list, --cancel ID, or --scope … --add-cents … --reason …",
    );
  }
  if (options.list) return "list";
  if (options.cancel !== undefined) return "cancel";
  const missing = [
    ["--scope", options.scope],
    ["--add-cents", options.addCents],
    ["--reason", options.reason],
  ].filter(([, v]) => v === undefined);
  if (missing.length > 0) {
    throw new TokenpakError(
      "usage",
      `an override needs ${missing.map(([o]) => o).join(", ")} (or use --list, --cancel ID)`,
    );
  }
  return "add";
}

export async function overrideCommand(
  ctx: CliContext,
  options: GlobalOptions & OverrideFlags,
): Promise<number> {
  const ops = await import("../../server/admin-overrides.js");
  const { parseMoment } = await import("../../budget/moments.js");
  const what = mode(options);
  // Checked here, before the daemon is asked, so the error names the flag.
  const addCents = cents(options.addCents, "--add-cents") ?? 0;
  const window =
    options.window !== undefined ? (WINDOW_ALIASES[options.window] ?? options.window) : undefined;
  if (window !== undefined && !new RegExp(ops.WINDOW_PATTERN).test(window)) {
    throw new TokenpakError(
      "invalid_argument",
      `--window must be daily, monthly or a rolling window such as 24h, 7d or 90m, got ${JSON.stringify(options.window)}`,
    );
  }
  return withSession(ctx, options, async (session, { config }) => {
    const c = paint(ctx, options);
    if (what === "list") {
      const { overrides } = await session.call(ops.listOverridesOp, undefined);
      if (options.json) {
        line(ctx.stdout, JSON.stringify({ overrides }, null, 2));
      } else if (overrides.length === 0) {
        line(ctx.stdout, "no overrides in force");
      } else {
        const rows = [
          ["ID", "SCOPE", "WINDOW", "ADDS", "UNTIL", "BY", "REASON"],
          ...overrides.map((o) => [
            o.id,
            o.scope,
            o.window ?? "all",
            `+${formatCents(o.add_cents)}`,
            o.until,
            o.by,
            o.reason,
          ]),
        ];
        for (const [i, text] of columns(rows).entries()) line(ctx.stdout, i === 0 ? c.dim(text) : text);
      }
      return 0;
    }
    if (what === "cancel") {
      const { override } = await session.call(ops.cancelOverrideOp, { id: options.cancel ?? "" });
      if (options.json) line(ctx.stdout, JSON.stringify({ override, via: session.via }, null, 2));
      else
        line(
          ctx.stdout,
          `${c.green("✓")} cancelled override ${override.id} (${describe(override)})${through(session)}`,
        );
      return 0;
    }
    const until =
      options.until !== undefined
        ? new Date(parseMoment(options.until, "--until", Date.now(), config.budget.timezone)).toISOString()
        : undefined;
    const { override } = await session.call(ops.createOverrideOp, {
      scope: options.scope ?? "",
      ...(window !== undefined ? { window } : {}),
      add_cents: addCents,
      ...(until !== undefined ? { until } : {}),
      reason: options.reason ?? "",
    });
    if (options.json) {
      line(ctx.stdout, JSON.stringify({ override, via: session.via }, null, 2));
      return 0;
    }
    line(
      ctx.stdout,
      `${c.green("✓")} override ${c.bold(override.id)}: ${describe(override)}${through(session)}`,
    );
    line(
      ctx.stdout,
      `  by ${override.by}: ${override.reason}. Cancel it with tokenpak budget override --cancel ${override.id}`,
    );
    return 0;
  });
}
