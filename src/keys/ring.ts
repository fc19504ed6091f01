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
   * Told after each change is on disk, with the key's scope when the key is
   * new (no spend to miss): the daemon rebuilds what requests are checked by.
   */
  changed: (stored: readonly StoredKey[], fresh?: string) => void;
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

  async create(spec: KeySpec, by: string): Promise<IssuedKey & { openModeEnded: boolean }> {
    const wasOpen = this.empty;
    const secret = newSecret();
    const { stored } = await this.options.store.update((keys) =>
      createKey(keys, spec, this.options.config(), { now: this.options.clock(), by }, secret),
    );
    this.options.changed(stored, `key:${spec.name}`);
    return { key: this.view(spec.name), secret, openModeEnded: wasOpen };
  }

  async revoke(name: string, by: string): Promise<{ key: KeyView; changed: boolean }> {
    const { stored, changed } = await this.options.store.update((keys) =>
      revokeKey(keys, name, this.options.config(), { now: this.options.clock(), by }),
    );
    if (changed) this.options.changed(stored);
    return { key: this.view(name), changed };
  }

  async rotate(name: string, graceMs: number, by: string): Promise<IssuedKey> {
    const secret = newSecret();
    const { stored } = await this.options.store.update((keys) =>
      rotateKey(keys, name, this.options.config(), { now: this.options.clock(), by, graceMs }, secret),
    );
    this.options.changed(stored);
    return { key: this.view(name), secret };
  }
}
