/** Too short to be a key, and too likely to occur in ordinary text. */
const MIN_SECRET_LENGTH = 8;

/**
 * A function that blanks out every occurrence of `secrets` in a text. A
 * provider's error body may echo what it was sent (some echo the request
 * headers): relayed to the client as is, it would hand over tokenpak's own
 * provider key.
 */
export function redactor(secrets: readonly (string | undefined)[]): (text: string) => string {
  const known = secrets.filter((s): s is string => s !== undefined && s.length >= MIN_SECRET_LENGTH);
  if (known.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const secret of known) if (out.includes(secret)) out = out.replaceAll(secret, "[redacted]");
    return out;
  };
}
