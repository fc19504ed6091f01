import { hostname } from "node:os";
import { createTransport, type Transporter } from "nodemailer";
import type { ResolvedAlerts } from "../config/types.generated.js";
import type { Alert } from "./alert.js";
import type { Channel } from "./channels.js";
import { emailBody, emailSubject } from "./format.js";
import { DeliveryFailure } from "./webhook.js";

type Smtp = NonNullable<ResolvedAlerts["smtp"]>;

/** Sends alerts to mailto: targets through the configured SMTP server (nodemailer). */
export class EmailSender {
  private readonly transport: Transporter;
  private readonly from: string;

  constructor(smtp: Smtp, timeoutMs: number) {
    this.transport = createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.secure,
      ...(smtp.user !== undefined ? { auth: { user: smtp.user, pass: smtp.password ?? "" } } : {}),
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    });
    this.from = smtp.from ?? `tokenpak@${hostname()}`;
  }

  async send(channel: Channel, alert: Alert): Promise<void> {
    try {
      await this.transport.sendMail({
        from: this.from,
        to: channel.address ?? "",
        subject: emailSubject(alert),
        text: emailBody(alert),
        // The same Message-ID on every attempt: mail systems drop a retried duplicate.
        messageId: `<${alert.id}@tokenpak>`,
        headers: { "X-TokenPak-Alert-Id": alert.id, "X-TokenPak-Event": alert.event },
      });
    } catch (error) {
      const e = error as { code?: string; responseCode?: number; message?: string };
      throw new DeliveryFailure(
        e.responseCode !== undefined ? `SMTP ${e.responseCode}` : (e.code ?? "SMTP delivery failed"),
      );
    }
  }

  close(): void {
    this.transport.close();
  }
}
