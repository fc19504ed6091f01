import { createHash } from "node:crypto";
import type { Config } from "../config/types.generated.js";
import { isLoopbackHost } from "../net/loopback.js";

/** One target of `budget.alert_webhook`. */
export interface Channel {
  kind: "webhook" | "email";
  /** As configured. May be a secret (a Slack webhook URL's path is one): only senders read it. */
  target: string;
  /** Safe to log and print: `https://hooks.slack.com/…`, `mailto:ops@example.com`. */
  label: string;
  /** A digest of the target: how the outbox names it, so the outbox holds no URL. */
  id: string;
  /** email: the recipient. */
  address?: string;
  /** Why alerts cannot go out on this channel (they are logged with this reason instead). */
  unusable?: string;
}

/** Origin only: paths and queries of webhook URLs often carry the secret. */
function redact(url: URL): string {
  return url.pathname === "/" && url.search === "" ? url.origin : `${url.origin}/…`;
}

export function channelId(target: string): string {
  return createHash("sha256").update(target).digest("hex").slice(0, 16);
}

/** The configured alert targets, each with what it needs (SMTP, https) checked. */
export function channelsOf(config: Readonly<Config>): Channel[] {
  const targets = config.budget.alert_webhook === undefined ? [] : [config.budget.alert_webhook].flat();
  return targets.map((target): Channel => {
    const id = channelId(target);
    if (target.startsWith("mailto:")) {
      const address = target.replace(/^mailto:(\/\/)?/, "").split("?")[0] ?? "";
      const channel: Channel = { kind: "email", target, label: `mailto:${address}`, id, address };
      if (!config.alerts.smtp) channel.unusable = "alerts.smtp is not configured";
      return channel;
    }
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return { kind: "webhook", target, label: "(invalid URL)", id, unusable: "not a valid URL" };
    }
    const channel: Channel = { kind: "webhook", target, label: redact(url), id };
    if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
      channel.unusable = "plain http: to a non-loopback host (use https:)";
    }
    return channel;
  });
}
