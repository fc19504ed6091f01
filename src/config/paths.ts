import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { TokenpakError } from "../errors.js";
import type { Env } from "./load.js";

export const DEFAULT_CONFIG_FILE = "tokenpak.yaml";

/**
 * Which config file to read: the one named (argument or --config), else
 * ./tokenpak.yaml when it exists, else $TOKENPAK_CONFIG.
 */
export function resolveConfigPath(explicit: string | undefined, cwd: string, env: Env): string {
  if (explicit !== undefined && explicit !== "") return resolve(cwd, explicit);
  const local = join(cwd, DEFAULT_CONFIG_FILE);
  if (existsSync(local)) return local;
  const fromEnv = env.TOKENPAK_CONFIG;
  if (fromEnv !== undefined && fromEnv !== "") return resolve(cwd, fromEnv);
  throw new TokenpakError(
    "config_not_found",
    `no config file: pass --config FILE, create ./${DEFAULT_CONFIG_FILE}, or set TOKENPAK_CONFIG`,
  );
}

/** `~` and `~/…` name the home directory, as in a shell. */
export function expandHome(path: string): string {
  return path === "~" || path.startsWith("~/") ? join(homedir(), path.slice(1)) : path;
}

/**
 * Data directory: --data-dir (relative to the working directory), else
 * storage.path (relative to the config file), else $TOKENPAK_HOME, else
 * ~/.tokenpak.
 */
export function resolveDataDir(options: {
  explicit?: string | undefined;
  storagePath?: string | undefined;
  configFile?: string | undefined;
  cwd: string;
  env: Env;
}): string {
  const { explicit, storagePath, configFile, cwd, env } = options;
  if (explicit) return resolve(cwd, expandHome(explicit));
  if (storagePath) return resolve(configFile ? dirname(configFile) : cwd, expandHome(storagePath));
  if (env.TOKENPAK_HOME) return resolve(cwd, expandHome(env.TOKENPAK_HOME));
  return join(homedir(), ".tokenpak");
}

/** The alerts log: alerts.log_file (relative to the data directory), else <data-dir>/alerts.log. */
export function resolveAlertsLog(logFile: string | undefined, dataDir: string): string {
  return resolve(dataDir, expandHome(logFile ?? "alerts.log"));
}
