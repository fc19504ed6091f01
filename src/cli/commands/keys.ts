import type { Command } from "commander";
import type { KeySpec, KeyView } from "../../keys/keys.js";
import { formatCents } from "../../money/money.js";
import type { AdminSession } from "../../server/control-client.js";
import { cents, positive } from "../args.js";
import { type CliContext, type GlobalOptions, line, paint, type SetExitCode } from "../context.js";
import { type LoadedConfig, loadCommandConfig } from "../load.js";
import { columns } from "../table.js";

interface CreateFlags {
  name: string;
  project?: string;
  team?: string;
  user?: string;
  dailyLimitCents?: string;
  monthlyLimitCents?: string;
  rpm?: string;
  expires?: string;
}

interface RotateFlags {
  grace: string;
}

export function registerKeys(program: Command, ctx: CliContext, setExitCode: SetExitCode): void {
  const keys = program
    .command("keys")
    .description(
      "client keys in the key store: create, list, revoke, rotate (the running proxy applies them at once)",
    )
    .addHelpText(
      "after",
      "\nKeys live in <data-dir>/keys.json (mode 0600) as SHA-256 digests only, beside the config's keys:\n" +
        "a name in both is an error. With the proxy running these commands go through its control socket and\n" +
        "the next request sees the change; without, they take the ledger lock and write the store themselves.\n" +
        "See docs/operations.md.",
    );

  keys
    .command("create")
    .description("make a new key; prints it once (only its SHA-256 is kept)")
    .requiredOption(
      "--name <name>",
      "the key's name: reports, refusals and the journal use it, never the secret",
    )
    .option("--project <project>", "the project its spend counts against (defined under projects:)")
    .option("--team <team>", "its team (must match the project's, if that has one)")
    .option("--user <user>", "fixes the end user of every request on this key")
    .option("--daily-limit-cents <cents>", "the key's own daily limit")
    .option("--monthly-limit-cents <cents>", "the key's own monthly limit")
    .option("--rpm <n>", "requests per minute (429 rate_limited above)")
    .option("--expires <when>", "refused from then on: 30d, 2026-12-31 (through that day), 2026-12-31T18:00Z")
    .addHelpText(
      "after",
      "\nThe key (tp- and 32 random characters, 192 bits) goes to stdout alone, so\n" +
        "  KEY=$(tokenpak keys create --name ci --project bot)\n" +
        "captures it; everything else goes to stderr. It is not shown again: rotate to get a new one.",
    )
    .action(async (_flags: unknown, command: Command) => {
      setExitCode(await keysCreateCommand(ctx, command.optsWithGlobals<GlobalOptions & CreateFlags>()));
    });

  keys
    .command("list")
    .description("every key, the config's and the store's: project, limits, created, last used, state")
    .action(async (_flags: unknown, command: Command) => {
      setExitCode(await keysListCommand(ctx, command.optsWithGlobals<GlobalOptions>()));
    });

  keys
    .command("revoke")
    .description("refuse a key from the next request on; its spend stays under its name")
    .argument("<name>", "the key's name")
    .action(async (name: string, _flags: unknown, command: Command) => {
      setExitCode(await keysRevokeCommand(ctx, command.optsWithGlobals<GlobalOptions>(), name));
    });

  keys
    .command("rotate")
    .description("a new secret for the same name, limits and history; the old one works for --grace")
    .argument("<name>", "the key's name")
    .option("--grace <duration>", "how long the old secret still works: 0, 30m, 1h, 7d", "1h")
    .action(async (name: string, _flags: unknown, command: Command) => {
      setExitCode(await keysRotateCommand(ctx, command.optsWithGlobals<GlobalOptions & RotateFlags>(), name));
    });
}

/** Runs `use` with an admin session (the daemon's, or this process's under the lock), closed after. */
export async function withSession<T>(
  ctx: CliContext,
  options: GlobalOptions,
  use: (session: AdminSession, loaded: LoadedConfig) => Promise<T>,
): Promise<T> {
  const { openAdminSession } = await import("../../server/control-client.js");
  const loaded = await loadCommandConfig(ctx, options);
  const session = await openAdminSession({
    config: loaded.config,
    dataDir: loaded.dataDir,
    warn: (message) => line(ctx.stderr, `tokenpak: ${message}`),
  });
  try {
    return await use(session, loaded);
  } finally {
    await session.close();
  }
}

/** " through the running proxy (pid 123)" or "" */
export function through(session: AdminSession): string {
  return session.via === "daemon" ? ` through the running proxy (pid ${session.pid ?? "?"})` : "";
}

function limits(k: KeyView): string {
  const parts: string[] = [];
  if (k.daily_limit_cents !== null) parts.push(`${formatCents(k.daily_limit_cents)}/day`);
  if (k.monthly_limit_cents !== null) parts.push(`${formatCents(k.monthly_limit_cents)}/month`);
  if (k.requests_per_minute !== null) parts.push(`${k.requests_per_minute} rpm`);
  return parts.length > 0 ? parts.join(", ") : "-";
}

function describe(k: KeyView): string {
  const scope = [k.project && `project ${k.project}`, k.team && `team ${k.team}`, k.user && `user ${k.user}`]
    .filter(Boolean)
    .join(", ");
  const expires = k.expires_at !== null ? `, expires ${k.expires_at}` : "";
  return `${scope || "no project"}; limits ${limits(k)}${expires}`;
}

export async function keysCreateCommand(
  ctx: CliContext,
  options: GlobalOptions & CreateFlags,
): Promise<number> {
  const { createKeyOp } = await import("../../server/admin-keys.js");
  const { parseMoment } = await import("../../budget/moments.js");
  return withSession(ctx, options, async (session, { config }) => {
    const rpm = positive(options.rpm, "--rpm", true);
    const daily = cents(options.dailyLimitCents, "--daily-limit-cents");
    const monthly = cents(options.monthlyLimitCents, "--monthly-limit-cents");
    const spec: KeySpec = {
      name: options.name,
      ...(options.project !== undefined ? { project: options.project } : {}),
      ...(options.team !== undefined ? { team: options.team } : {}),
      ...(options.user !== undefined ? { user: options.user } : {}),
      ...(daily !== undefined ? { daily_limit_cents: daily } : {}),
      ...(monthly !== undefined ? { monthly_limit_cents: monthly } : {}),
      ...(rpm !== undefined ? { requests_per_minute: rpm } : {}),
      ...(options.expires !== undefined
        ? {
            expires_at: new Date(
              parseMoment(options.expires, "--expires", Date.now(), config.budget.timezone),
            ).toISOString(),
          }
        : {}),
    };
    const created = await session.call(createKeyOp, spec);
    if (options.json) {
      line(ctx.stdout, JSON.stringify({ ...created, via: session.via }, null, 2));
      return 0;
    }
    const c = paint(ctx, options);
    line(ctx.stdout, created.secret);
    line(
      ctx.stderr,
      `${c.green("✓")} created key ${c.bold(created.key.name)} (${describe(created.key)})${through(session)}`,
    );
    line(
      ctx.stderr,
      "  This is the only time the key is shown: keep it now. tokenpak stores only its SHA-256.",
    );
    if (created.open_mode_ended) {
      line(
        ctx.stderr,
        `${c.yellow("!")} this is the first key: the proxy has left open mode, and every request now needs a key`,
      );
    }
    return 0;
  });
}

export async function keysListCommand(ctx: CliContext, options: GlobalOptions): Promise<number> {
  const { listKeysOp } = await import("../../server/admin-keys.js");
  return withSession(ctx, options, async (session) => {
    const { keys } = await session.call(listKeysOp, undefined);
    if (options.json) {
      line(ctx.stdout, JSON.stringify({ keys }, null, 2));
      return 0;
    }
    const c = paint(ctx, options);
    if (keys.length === 0) {
      line(ctx.stdout, "no client keys: the proxy runs in open mode (the bearer token names the user)");
      return 0;
    }
    const rows = [
      ["NAME", "SOURCE", "PROJECT", "LIMITS", "CREATED", "LAST USED", "STATE"],
      ...keys.map((k) => [
        k.name,
        k.source,
        k.project ?? "-",
        limits(k),
        k.created_at?.slice(0, 16).replace("T", " ") ?? "-",
        k.last_used_at?.slice(0, 16).replace("T", " ") ?? "never",
        k.state === "revoked"
          ? `revoked ${k.revoked_at?.slice(0, 10)}`
          : k.state === "expired"
            ? `expired ${k.expires_at?.slice(0, 10)}`
            : k.previous_valid_until !== null
              ? `active (old secret until ${k.previous_valid_until.slice(0, 16).replace("T", " ")})`
              : "active",
      ]),
    ];
    for (const [i, text] of columns(rows).entries()) {
      const state = keys[i - 1]?.state;
      line(ctx.stdout, i === 0 ? c.dim(text) : state === "active" ? text : c.dim(text));
    }
    return 0;
  });
}

export async function keysRevokeCommand(
  ctx: CliContext,
  options: GlobalOptions,
  name: string,
): Promise<number> {
  const { revokeKeyOp } = await import("../../server/admin-keys.js");
  return withSession(ctx, options, async (session) => {
    const result = await session.call(revokeKeyOp, { name });
    if (options.json) {
      line(ctx.stdout, JSON.stringify({ ...result, via: session.via }, null, 2));
      return 0;
    }
    const c = paint(ctx, options);
    line(
      ctx.stdout,
      result.revoked
        ? `${c.green("✓")} revoked key ${c.bold(name)}${through(session)}: it is refused from the next request on; its spend stays under its name`
        : `${c.green("✓")} key ${c.bold(name)} was already revoked (at ${result.key.revoked_at})`,
    );
    return 0;
  });
}

export async function keysRotateCommand(
  ctx: CliContext,
  options: GlobalOptions & RotateFlags,
  name: string,
): Promise<number> {
  const { rotateKeyOp, MAX_GRACE_SECONDS } = await import("../../server/admin-keys.js");
  const { parseDuration } = await import("../../budget/moments.js");
  const graceMs = parseDuration(options.grace);
  if (graceMs === undefined || graceMs > MAX_GRACE_SECONDS * 1000) {
    const { TokenpakError } = await import("../../errors.js");
    throw new TokenpakError(
      "invalid_argument",
      graceMs === undefined
        ? `--grace must be a duration (0, 30m, 1h, 7d), got ${options.grace}`
        : `--grace is too long: at most 365d, got ${options.grace}`,
    );
  }
  return withSession(ctx, options, async (session) => {
    const rotated = await session.call(rotateKeyOp, { name, grace_seconds: Math.round(graceMs / 1000) });
    if (options.json) {
      line(ctx.stdout, JSON.stringify({ ...rotated, via: session.via }, null, 2));
      return 0;
    }
    const c = paint(ctx, options);
    line(ctx.stdout, rotated.secret);
    const old =
      rotated.key.previous_valid_until !== null
        ? `the old secret works until ${rotated.key.previous_valid_until}`
        : "the old secret is refused from now on";
    line(ctx.stderr, `${c.green("✓")} rotated key ${c.bold(name)}${through(session)}: ${old}`);
    line(ctx.stderr, "  This is the only time the new key is shown: keep it now.");
    return 0;
  });
}
