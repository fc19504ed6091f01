import type { Config } from "../config/types.generated.js";
import {
  createKey,
  type KeySpec,
  type KeyView,
  keyViews,
  revokeKey,
  rotateKey,
  type StoredKey,
} from "./keys.js";
import { newSecret } from "./secret.js";
import type { KeyStore } from "./store.js";
import type { KeyUsage } from "./usage.js";

/** A key just made or rotated: its secret, shown this once and never again. */
export interface IssuedKey {
  key: KeyView;
  secret: string;
}

export interface KeyRingOptions {
  store: KeyStore;
  /** The config in force: its keys stand beside the store's, and its projects and teams are the ones a key may name. */
  config: () => Readonly<Config>;
  usage: KeyUsage;
  clock: () => number;
  /**
   * Asked before each change is written, with the keys it leaves and the new
   * key's scope when there is one (no spend to miss): may refuse (throw) —
   * then nothing is written — and returns what puts the change in force once
   * it is on disk. The daemon rebuilds what requests are checked by.
   */
  prepare: (stored: readonly StoredKey[], fresh?: string) => () => void;
}

/**
 * The key store's operations, whoever runs them: the daemon (the change
 * reaches the next request) or a command holding the ledger lock.
 */
export class KeyRing {
  constructor(private readonly options: KeyRingOptions) {}

  private view(name: string): KeyView {
    const { config, store, clock, usage } = this.options;
    const found = keyViews(config(), store.keys, clock(), (n) => usage.lastUsed(n)).find(
      (k) => k.name === name && k.source === "store",
    );
    if (!found) throw new Error(`key ${name} vanished from the store`);
    return found;
  }

  list(): KeyView[] {
    const { config, store, clock, usage } = this.options;
    return keyViews(config(), store.keys, clock(), (n) => usage.lastUsed(n));
  }

  /** Whether no key of any kind exists: the proxy then runs in open mode. */
  get empty(): boolean {
    return (
      (this.options.config().keys ?? []).length === 0 &&
      this.options.store.keys.every((k) => k.revoked_at !== undefined)
    );
  }

  /** Runs one change of the store: checked, written, then put in force. */
  private async change<T extends { stored: readonly StoredKey[] }>(
    make: (keys: readonly StoredKey[], config: Readonly<Config>, now: number) => T,
    fresh?: string,
  ): Promise<T> {
    let commit: (() => void) | undefined;
    const result = await this.options.store.update((keys) => {
      const next = make(keys, this.options.config(), this.options.clock());
      commit = next.stored === keys ? undefined : this.options.prepare(next.stored, fresh);
      return next;
    });
    commit?.();
    return result;
  }

  async create(spec: KeySpec, by: string): Promise<IssuedKey & { openModeEnded: boolean }> {
    const wasOpen = this.empty;
    const secret = newSecret();
    await this.change(
      (keys, config, now) => createKey(keys, spec, config, { now, by }, secret),
      `key:${spec.name}`,
    );
    return { key: this.view(spec.name), secret, openModeEnded: wasOpen };
  }

  async revoke(name: string, by: string): Promise<{ key: KeyView; changed: boolean }> {
    const { changed } = await this.change((keys, config, now) => revokeKey(keys, name, config, { now, by }));
    return { key: this.view(name), changed };
  }

  async rotate(name: string, graceMs: number, by: string): Promise<IssuedKey> {
    const secret = newSecret();
    await this.change((keys, config, now) => rotateKey(keys, name, config, { now, by, graceMs }, secret));
    return { key: this.view(name), secret };
  }
}
