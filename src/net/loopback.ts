import { isIPv4 } from "node:net";

const LOOPBACK_NAMES = new Set(["localhost", "::1", "[::1]"]);

/**
 * Whether `host` (a listen address, or a URL's hostname) only reaches this
 * machine: localhost, ::1, or an IPv4 literal in 127.0.0.0/8 (also as an
 * IPv4-mapped IPv6 address). A name that merely starts with "127." is not.
 */
export function isLoopbackHost(host: string): boolean {
  if (LOOPBACK_NAMES.has(host)) return true;
  const v4 = host.replace(/^\[?::ffff:/i, "").replace(/\]$/, "");
  return isIPv4(v4) && v4.startsWith("127.");
}
