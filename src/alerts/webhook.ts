import { createHmac } from "node:crypto";
import { Agent, request } from "undici";
import type { Alert } from "./alert.js";
import type { Channel } from "./channels.js";
import { webhookPayload } from "./format.js";

/** `sha256=<hex HMAC-SHA256 of the raw body, keyed by alerts.webhook_secret>`: the X-TokenPak-Signature header. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** Why an attempt failed, in words that hold no URL, header or secret. */
export class DeliveryFailure extends Error {
  override readonly name = "DeliveryFailure";
}

function describe(error: unknown, timeoutMs: number): string {
  if (error instanceof DeliveryFailure) return error.message;
  const code = (error as { code?: string } | null)?.code;
  const name = (error as Error | null)?.name;
  if (
    name === "TimeoutError" ||
    code === "UND_ERR_HEADERS_TIMEOUT" ||
    code === "UND_ERR_BODY_TIMEOUT" ||
    code === "UND_ERR_CONNECT_TIMEOUT"
  )
    return `no answer within ${timeoutMs} ms`;
  if (name === "AbortError" || code === "UND_ERR_ABORTED" || code === "UND_ERR_DESTROYED") return "aborted";
  return code ?? "request failed";
}

/**
 * Posts alerts as JSON over its own undici Agent (not the providers' pools),
 * every phase bounded by the timeout, so a hanging receiver costs a socket
 * and a timer — never a proxied request's time.
 */
export class WebhookSender {
  private readonly agent: Agent;

  constructor(
    private readonly secret: string | undefined,
    private readonly timeoutMs: number,
    private readonly userAgent: string,
  ) {
    this.agent = new Agent({
      connect: { timeout: timeoutMs },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      keepAliveTimeout: 10_000,
    });
  }

  async send(channel: Channel, alert: Alert, attempt: number): Promise<void> {
    const body = JSON.stringify(webhookPayload(alert));
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": this.userAgent,
      "x-tokenpak-alert-id": alert.id,
      "x-tokenpak-event": alert.event,
      "x-tokenpak-attempt": String(attempt),
    };
    if (this.secret !== undefined) headers["x-tokenpak-signature"] = signature(this.secret, body);
    try {
      const res = await request(channel.target, {
        method: "POST",
        headers,
        body,
        dispatcher: this.agent,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      await res.body.dump();
      if (res.statusCode < 200 || res.statusCode >= 300) throw new DeliveryFailure(`HTTP ${res.statusCode}`);
    } catch (error) {
      throw new DeliveryFailure(describe(error, this.timeoutMs));
    }
  }

  /** Aborts what is in flight: an alert not confirmed stays pending in the outbox. */
  async close(): Promise<void> {
    await this.agent.destroy();
  }
}
