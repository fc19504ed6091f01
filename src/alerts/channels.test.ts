import { describe, expect, it } from "vitest";
import { configFrom } from "../../test/helpers/policy.js";
import { channelsOf } from "./channels.js";

const config = (targets: string[], alerts = "") =>
  configFrom(`budget:\n  alert_webhook: ${JSON.stringify(targets)}\n${alerts}`);

describe("channelsOf", () => {
  it("labels hide webhook paths and queries (a Slack webhook URL's path is its secret)", () => {
    const [slack, bare, mail] = channelsOf(
      config([
        "https://hooks.slack.com/services/T0/B0/XXXX?x=1",
        "https://example.com",
        "mailto://ops@example.com",
      ]),
    );
    expect(slack).toMatchObject({ kind: "webhook", label: "https://hooks.slack.com/…" });
    expect(slack?.id).toMatch(/^[0-9a-f]{16}$/);
    expect(bare?.label).toBe("https://example.com");
    expect(mail).toMatchObject({
      kind: "email",
      label: "mailto:ops@example.com",
      address: "ops@example.com",
    });
  });

  it("mailto: without alerts.smtp and plain http: off loopback cannot be used, and say why", () => {
    const channels = channelsOf(
      config([
        "mailto:ops@example.com",
        "http://hooks.example.com/x",
        "http://127.0.0.1:9000/x",
        "http://[::1]:9/x",
      ]),
    );
    expect(channels.map((c) => c.unusable)).toEqual([
      "alerts.smtp is not configured",
      "plain http: to a non-loopback host (use https:)",
      undefined,
      undefined,
    ]);
    const withSmtp = channelsOf(config(["mailto:ops@example.com"], "alerts:\n  smtp: { host: 127.0.0.1 }"));
    expect(withSmtp[0]?.unusable).toBeUndefined();
  });

  it("the same target has the same id in every run; different targets differ", () => {
    const a = channelsOf(config(["https://a.example.com/1", "https://a.example.com/2"]));
    const b = channelsOf(config(["https://a.example.com/1"]));
    expect(a[0]?.id).toBe(b[0]?.id);
    expect(a[1]?.id).not.toBe(a[0]?.id);
  });
});
