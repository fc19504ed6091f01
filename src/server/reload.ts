import { checkConfig, type Env, readConfigText } from "../config/load.js";
import { type Problem, problemLine } from "../config/problem.js";
import { withStoredKeys } from "../config/semantic.js";
import { isTokenpakError, TokenpakError } from "../errors.js";
import type { KeyStore } from "../keys/store.js";
import { configChanges, keepStartSettings } from "./config-diff.js";
import type { Runtime } from "./runtime.js";

/** What a reload did. */
export interface ReloadResult {
  file: string;
  /** Sections of the config whose changes serve the next request. */
  changed: string[];
  /** Settings changed in the file that the daemon takes only at its next start ("server.port: 8000 → 9000"). */
  restart_required: string[];
  /** The new config's warnings, as validate-config shows them. */
  warnings: Problem[];
  /** Client keys in force: the config's and the key store's. */
  keys: number;
  open_mode: boolean;
  /** Journal entries replayed because the new limits count in windows the counters did not keep. */
  rebuilt_from_journal: number | null;
}

/** The error a refused reload is: the problems as validate-config reports them, the config in force unchanged. */
export function refused(file: string, problems: Problem[]): TokenpakError {
  const first = problems[0];
  return new TokenpakError(
    "reload_refused",
    `${file}: ${problems.length} problem${problems.length === 1 ? "" : "s"}${first ? `, first: ${first.path} ${first.message}` : ""}; the config in force keeps serving`,
    { file, problems },
  );
}

function asProblem(message: string): Problem {
  return { severity: "error", path: "(root)", line: 1, col: 1, message };
}

/**
 * Re-reads the config file and the key store and serves the next request
 * with them. An invalid file — or keys that clash, or a change that would
 * leave a non-loopback proxy in open mode — is refused with its problems
 * (logged too); the config in force keeps serving.
 */
export async function reloadConfig(options: {
  file: string;
  env: Env;
  runtime: Runtime;
  store: KeyStore;
  warn: (message: string) => void;
}): Promise<ReloadResult> {
  const { file, runtime, warn } = options;
  const refuse = (problems: Problem[]): never => {
    for (const p of problems) warn(`reload refused: ${problemLine(file, p)}`);
    throw refused(file, problems);
  };
  let text: string;
  try {
    text = await readConfigText(file);
  } catch (error) {
    return refuse([asProblem(error instanceof Error ? error.message : String(error))]);
  }
  const checked = checkConfig(text, file, options.env);
  if (!checked.config) return refuse(checked.errors);
  // The config in force keeps the started host, port, storage and alerts log: what the
  // daemon truly uses, and what the next reload compares the file with again.
  const changes = configChanges(runtime.config, checked.config);
  const config = keepStartSettings(runtime.config, checked.config);
  try {
    const stored = await options.store.reread();
    const applied = runtime.apply(config, stored);
    return {
      file,
      changed: changes.changed,
      restart_required: changes.restartRequired,
      warnings: applied.openMode ? checked.warnings : withStoredKeys(checked.warnings),
      keys: (config.keys ?? []).length + stored.filter((k) => k.revoked_at === undefined).length,
      open_mode: applied.openMode,
      rebuilt_from_journal: applied.rebuilt ?? null,
    };
  } catch (error) {
    if (!isTokenpakError(error) || error.code === "internal_error") throw error;
    return refuse([asProblem(error.message)]);
  }
}

/** What the daemon logs of a reload: its result, or why it was refused. */
export type ReloadRecord =
  | ({ ok: true; by: string } & ReloadResult)
  | { ok: false; by: string; code: string; error: string; problems?: unknown };

/**
 * The daemon's reload (SIGHUP, POST /admin/reload, `tokenpak reload`): one at
 * a time — two racing would each apply what they read — and each logged,
 * done or refused. Without a config file there is nothing to re-read.
 */
export function reloader(options: {
  file: string | undefined;
  env: Env;
  runtime: Runtime;
  store: KeyStore;
  warn: (message: string) => void;
  log: (record: ReloadRecord) => void;
}): (by?: string) => Promise<ReloadResult> {
  let reloading: Promise<unknown> = Promise.resolve();
  return (by = "signal") => {
    const run = async () => {
      try {
        if (options.file === undefined) {
          throw new TokenpakError(
            "reload_refused",
            "the proxy was started without a config file: nothing to re-read",
          );
        }
        const result = await reloadConfig({ ...options, file: options.file });
        options.log({ ok: true, by, ...result });
        return result;
      } catch (error) {
        const e = isTokenpakError(error) ? error : new TokenpakError("internal_error", String(error));
        options.log({ ok: false, by, code: e.code, error: e.message, problems: e.details.problems });
        throw error;
      }
    };
    const next = reloading.then(run, run);
    reloading = next.catch(() => {});
    return next;
  };
}
