import type { Config } from "../config/types.generated.js";
import type { Alert } from "./alert.js";
import type { Channel } from "./channels.js";
import type { Send } from "./delivery.js";
import { EmailSender } from "./email.js";
import { WebhookSender } from "./webhook.js";

export interface Senders {
  send: Send;
  /** Aborts attempts in flight and closes connections. */
  close(): Promise<void>;
}

/** One sender per kind of channel, built from the config's alerts section. */
export function createSenders(config: Readonly<Config>): Senders {
  const { alerts } = config;
  // An empty secret (`${SECRET:-}` with SECRET unset) means unsigned, not a signature keyed by "".
  const secret = alerts.webhook_secret === "" ? undefined : alerts.webhook_secret;
  const webhook = new WebhookSender(secret, alerts.timeout_ms, "tokenpak-alerts");
  const email = alerts.smtp ? new EmailSender(alerts.smtp, alerts.timeout_ms) : undefined;
  return {
    send(channel: Channel, alert: Alert, attempt: number): Promise<void> {
      if (channel.kind === "webhook") return webhook.send(channel, alert, attempt);
      if (!email) return Promise.reject(new Error("alerts.smtp is not configured"));
      return email.send(channel, alert);
    },
    async close() {
      email?.close();
      await webhook.close();
    },
  };
}
