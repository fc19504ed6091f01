/**
 * A record's own entry for a client-chosen key, never an inherited one: a
 * model called `toString`, `constructor` or `__proto__` is unknown, not a
 * function from Object.prototype.
 */
export function ownValue<T>(record: { readonly [key: string]: T } | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}
