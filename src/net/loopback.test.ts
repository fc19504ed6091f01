import { describe, expect, it } from "vitest";
import { isLoopbackHost } from "./loopback.js";

describe("isLoopbackHost", () => {
  it.each(["localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "::ffff:127.0.0.1", "[::ffff:127.0.0.1]"])(
    "%s is loopback",
    (host) => expect(isLoopbackHost(host)).toBe(true),
  );

  it.each(["0.0.0.0", "::", "10.0.0.1", "example.com", "127.example.com", "127.0.0.1.nip.io", ""])(
    "%s is not",
    (host) => expect(isLoopbackHost(host)).toBe(false),
  );
});
