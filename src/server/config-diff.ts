import type { Config } from "../config/types.generated.js";

/** Settings a running daemon cannot take over: where it listens and where it keeps its files. */
const AT_START: readonly (readonly [keyof Config, string | undefined])[] = [
  ["server", "host"],
  ["server", "port"],
  ["storage", undefined],
  ["alerts", "log_file"],
];

const SECTIONS: readonly (keyof Config)[] = [
  "budget",
  "teams",
  "projects",
  "keys",
  "providers",
  "models",
  "server",
  "alerts",
  "pricing",
];

/** What a reload changes: the sections that take effect now, and the settings that wait for a restart. */
export interface ConfigChanges {
  changed: string[];
  /** "server.port: 8000 → 9000": changed in the file, not in the daemon until it restarts. */
  restartRequired: string[];
}

function shown(value: unknown): string {
  return value === undefined ? "(unset)" : JSON.stringify(value);
}

function omit(value: unknown, key: string | undefined): unknown {
  if (key === undefined || value === null || typeof value !== "object") return undefined;
  const { [key]: _dropped, ...rest } = value as Record<string, unknown>;
  return rest;
}

/** Compares two valid configs. Pure. */
export function configChanges(old: Readonly<Config>, next: Readonly<Config>): ConfigChanges {
  const restartRequired: string[] = [];
  const field = (c: Readonly<Config>, section: keyof Config, key: string) =>
    (c[section] as Record<string, unknown> | undefined)?.[key];
  for (const [section, only] of AT_START) {
    const keys =
      only !== undefined
        ? [only]
        : [...new Set([...Object.keys(old[section] ?? {}), ...Object.keys(next[section] ?? {})])];
    for (const key of keys) {
      const [a, b] = [field(old, section, key), field(next, section, key)];
      if (JSON.stringify(a) !== JSON.stringify(b))
        restartRequired.push(`${section}.${key}: ${shown(a)} → ${shown(b)}`);
    }
  }
  const changed = SECTIONS.filter((section) => {
    const atStart = AT_START.filter(([s]) => s === section).map(([, k]) => k);
    const live = (c: Readonly<Config>) => atStart.reduce<unknown>((v, k) => omit(v, k), c[section]);
    const [a, b] = atStart.length > 0 ? [live(old), live(next)] : [old[section], next[section]];
    return JSON.stringify(a) !== JSON.stringify(b);
  });
  return { changed, restartRequired };
}

/**
 * What a reload puts in force: `next`, but with the settings the daemon took
 * at its start (AT_START) as `started` has them — it still listens and keeps
 * its files where it started. So the config in force says what is true, and
 * the next reload compares the file with the started values again: a change
 * that waits for a restart is reported by every reload until the restart,
 * not only by the first. Pure; the result is frozen like a loaded config.
 */
export function keepStartSettings(started: Readonly<Config>, next: Readonly<Config>): Readonly<Config> {
  const out: Record<string, unknown> = { ...next };
  for (const [section, key] of AT_START) {
    const was = started[section] as Record<string, unknown> | undefined;
    if (key === undefined) {
      out[section] = was;
      continue;
    }
    const merged: Record<string, unknown> = { ...(out[section] as Record<string, unknown> | undefined) };
    if (was?.[key] === undefined) delete merged[key];
    else merged[key] = was[key];
    out[section] = Object.freeze(merged);
  }
  for (const section of Object.keys(out)) if (out[section] === undefined) delete out[section];
  return Object.freeze(out) as unknown as Readonly<Config>;
}
