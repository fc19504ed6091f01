import { hash, randomBytes } from "node:crypto";

/** Every key tokenpak makes starts so: recognisable in a leaked log, and refused as a user name in open mode. */
export const KEY_PREFIX = "tp-";
/** 192 bits from the system's CSPRNG: far past guessing, and still a short line to paste. */
const SECRET_BYTES = 24;

/** A new client key: "tp-" and 32 base64url characters. */
export function newSecret(): string {
  return KEY_PREFIX + randomBytes(SECRET_BYTES).toString("base64url");
}

/** Hex SHA-256 by the one-shot API: about half the cost of createHash().update().digest() per request. */
export function sha256Hex(text: string): string {
  return hash("sha256", text, "hex");
}
