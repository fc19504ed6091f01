import { randomUUID } from "node:crypto";
import { resolveAlertsLog } from "../config/paths.js";
import type { Config } from "../config/types.generated.js";
import { type Alert, messageAlert } from "./alert.js";
import { AppendFile } from "./append-file.js";
import { channelsOf } from "./channels.js";
import { logLine } from "./format.js";
import { createSenders } from "./senders.js";

export interface ChannelResult {
  channel: "log" | "webhook" | "email";
  /** The log's path, or the target as it may be shown (webhook paths redacted). */
  target: string;
  ok: boolean;
  error?: string;
  ms: number;
}

/**
 * Sends one `test` alert to the alerts log and to every configured target,
 * once each, without retries and without the outbox, and reports how each
 * went. Safe beside a running daemon: the log is only appended to.
 */
export async function sendTestAlert(options: {
  config: Readonly<Config>;
  dataDir: string;
  clock?: () => number;
}): Promise<{ alert: Alert; results: ChannelResult[] }> {
  const { config } = options;
  const alert = messageAlert({
    id: randomUUID(),
    event: "test",
    at: (options.clock ?? Date.now)(),
    message: "test alert from `tokenpak alerts test`: this channel works",
  });
  const timed = async (
    channel: ChannelResult["channel"],
    target: string,
    run: () => void | Promise<void>,
  ): Promise<ChannelResult> => {
    const began = performance.now();
    try {
      await run();
      return { channel, target, ok: true, ms: Math.round(performance.now() - began) };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return { channel, target, ok: false, error: message, ms: Math.round(performance.now() - began) };
    }
  };

  const logPath = resolveAlertsLog(config.alerts.log_file, options.dataDir);
  const results = [
    await timed("log", logPath, () => {
      const log = new AppendFile(logPath);
      try {
        log.write([logLine(alert)]);
      } finally {
        log.close();
      }
    }),
  ];
  const senders = createSenders(config);
  try {
    const sent = await Promise.all(
      channelsOf(config).map((channel) =>
        timed(channel.kind, channel.label, () => {
          if (channel.unusable !== undefined) throw new Error(channel.unusable);
          return senders.send(channel, alert, 1);
        }),
      ),
    );
    results.push(...sent);
  } finally {
    await senders.close();
  }
  return { alert, results };
}
