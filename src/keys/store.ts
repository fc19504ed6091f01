import { join } from "node:path";
import { TokenpakError } from "../errors.js";
import { DurableJsonFile } from "../ledger/snapshot.js";
import type { StoredKey } from "./keys.js";

export const KEY_STORE_FILE = "keys.json";

interface KeyStoreFile {
  version: 1;
  keys: StoredKey[];
}

const HEX64 = /^[0-9a-f]{64}$/;
const isText = (v: unknown) => typeof v === "string" && v.length > 0;
const isTime = (v: unknown) => typeof v === "string" && !Number.isNaN(Date.parse(v));
const optional = (v: unknown, ok: (v: unknown) => boolean) => v === undefined || ok(v);
const isAmount = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v > 0;

/** Why a stored key cannot be used, if it cannot. */
function problemOf(k: Partial<Record<keyof StoredKey, unknown>>): string | undefined {
  if (!isText(k.name)) return "has no name";
  if (typeof k.sha256 !== "string" || !HEX64.test(k.sha256)) return "has no SHA-256 digest";
  for (const field of ["project", "team", "user", "created_by", "rotated_by", "revoked_by"] as const)
    if (!optional(k[field], isText)) return `has a ${field} that is not text`;
  for (const field of ["created_at", "expires_at", "rotated_at", "revoked_at"] as const)
    if (!optional(k[field], isTime)) return `has a ${field} that is not a time`;
  if (k.created_at === undefined) return "has no created_at";
  for (const field of ["daily_limit_cents", "monthly_limit_cents"] as const)
    if (!optional(k[field], isAmount)) return `has a ${field} that is not a positive number`;
  const rpm = (k.rate_limit as { requests_per_minute?: unknown } | undefined)?.requests_per_minute;
  if (!optional(rpm, (v) => Number.isSafeInteger(v) && (v as number) > 0))
    return "has a rate limit that is not a positive whole number";
  const previous = k.previous;
  if (
    !optional(
      previous,
      (v) =>
        Array.isArray(v) &&
        v.every(
          (p: { sha256?: unknown; valid_until?: unknown }) =>
            typeof p?.sha256 === "string" && HEX64.test(p.sha256) && isTime(p.valid_until),
        ),
    )
  )
    return "has previous secrets that are not digests with a valid_until";
  return undefined;
}

function parse(path: string, data: unknown): StoredKey[] {
  const file = data as Partial<KeyStoreFile> | null;
  const bad = (why: string) =>
    new TokenpakError("config_invalid", `the key store ${path} ${why}; fix or restore it`, { path });
  if (file === null || typeof file !== "object" || file.version !== 1 || !Array.isArray(file.keys))
    throw bad("is not a version 1 key store");
  const names = new Set<string>();
  for (const [i, k] of file.keys.entries()) {
    const problem = problemOf(k as Partial<Record<keyof StoredKey, unknown>>);
    if (problem) throw bad(`has a key (keys[${i}]) that ${problem}`);
    if (names.has(k.name)) throw bad(`has the key name ${k.name} twice`);
    names.add(k.name);
  }
  return file.keys;
}

/**
 * The key store: <data-dir>/keys.json, mode 0600, SHA-256 digests only,
 * replaced atomically (temp file, fsync, rename) on every change. One writer:
 * the daemon while it runs, else a command holding the ledger lock.
 */
export class KeyStore {
  private writing: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly file: DurableJsonFile<KeyStoreFile>,
    private current: readonly StoredKey[],
  ) {}

  static async open(dataDir: string): Promise<KeyStore> {
    const file = new DurableJsonFile<KeyStoreFile>(join(dataDir, KEY_STORE_FILE));
    return new KeyStore(file, await KeyStore.read(file));
  }

  private static async read(file: DurableJsonFile<KeyStoreFile>): Promise<StoredKey[]> {
    let data: KeyStoreFile | null;
    try {
      data = await file.read();
    } catch (error) {
      const why = error instanceof SyntaxError ? "is not valid JSON" : String(error);
      throw new TokenpakError("config_invalid", `the key store ${file.path} ${why}; fix or restore it`, {
        path: file.path,
      });
    }
    return data === null ? [] : parse(file.path, data);
  }

  get path(): string {
    return this.file.path;
  }

  get keys(): readonly StoredKey[] {
    return this.current;
  }

  /** Reads the file again (a reload: what an operator restored or edited by hand), after any change being written. */
  reread(): Promise<readonly StoredKey[]> {
    const run = async () => {
      this.current = await KeyStore.read(this.file);
      return this.current;
    };
    const next = this.writing.then(run, run);
    this.writing = next.catch(() => {});
    return next;
  }

  /**
   * Applies `change` to the keys and writes the file; the new keys are
   * visible only once they are on disk. Changes run one at a time.
   */
  update<T extends { stored: readonly StoredKey[] }>(change: (keys: readonly StoredKey[]) => T): Promise<T> {
    const run = async () => {
      const result = change(this.current);
      if (result.stored !== this.current) {
        try {
          await this.file.write({ version: 1, keys: [...result.stored] });
        } catch (error) {
          const e = error as NodeJS.ErrnoException;
          throw new TokenpakError(
            "io_error",
            `cannot write the key store ${this.path}: ${e.code ?? e.message}`,
            {
              path: this.path,
            },
          );
        }
        this.current = result.stored;
      }
      return result;
    };
    const next = this.writing.then(run, run);
    this.writing = next.catch(() => {});
    return next;
  }
}
