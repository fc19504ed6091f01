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
