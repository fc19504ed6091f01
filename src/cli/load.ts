import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Problem } from "../config/problem.js";
import type { Config } from "../config/types.generated.js";
import type { CliContext, GlobalOptions } from "./context.js";

export interface LoadedConfig {
  file: string;
  config: Readonly<Config>;
  warnings: Problem[];
  dataDir: string;
}

/** The config a command runs with (--config, ./tokenpak.yaml, $TOKENPAK_CONFIG) and its data directory. */
export async function loadCommandConfig(ctx: CliContext, options: GlobalOptions): Promise<LoadedConfig> {
  // Loaded on use so that `tokenpak --help` stays fast.
  const { loadConfig } = await import("../config/load.js");
  const { resolveConfigPath, resolveDataDir } = await import("../config/paths.js");
  const file = resolveConfigPath(options.config, ctx.cwd, ctx.env);
  const { config, warnings } = await loadConfig(file, ctx.env);
  const dataDir = resolveDataDir({
    explicit: options.dataDir,
    storagePath: config.storage.path,
    configFile: file,
    cwd: ctx.cwd,
    env: ctx.env,
  });
  return { file, config, warnings, dataDir };
}

/** The data directory of a command that needs no config when --data-dir names it. */
export async function commandDataDir(ctx: CliContext, options: GlobalOptions): Promise<string> {
  return options.dataDir
    ? resolve(ctx.cwd, options.dataDir)
    : (await loadCommandConfig(ctx, options)).dataDir;
}

/**
 * The data directory of a command whose config failed to load, for its
 * record of the failure: --data-dir, else storage.path if the file at least
 * parses as YAML and names one literally, else $TOKENPAK_HOME, else
 * ~/.tokenpak. Never throws.
 */
export async function dataDirDespiteConfig(ctx: CliContext, options: GlobalOptions): Promise<string> {
  const { resolveConfigPath, resolveDataDir } = await import("../config/paths.js");
  let file: string | undefined;
  let storagePath: string | undefined;
  if (!options.dataDir) {
    try {
      file = resolveConfigPath(options.config, ctx.cwd, ctx.env);
      const { parse } = await import("yaml");
      const data = parse(readFileSync(file, "utf8")) as { storage?: { path?: unknown } } | null;
      const path = data?.storage?.path;
      if (typeof path === "string" && path !== "" && !path.includes("${")) storagePath = path;
    } catch {
      // no file, not YAML: the environment or the default then
    }
  }
  return resolveDataDir({
    explicit: options.dataDir,
    storagePath,
    configFile: file,
    cwd: ctx.cwd,
    env: ctx.env,
  });
}
