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
