import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Parsed } from "./json.js";

export interface Delivery {
  path: string;
  headers: IncomingMessage["headers"];
  /** The body exactly as received (signatures are over these bytes). */
  raw: string;
  body: Parsed;
  /** What the receiver answered: a status, or "hang". */
  answered: number | "hang";
}

/**
 * A webhook receiver on 127.0.0.1: records every POST (failed attempts too)
 * and answers what `answer` says — 200 by default, an error status, or
 * nothing at all ("hang").
 */
export interface AlertReceiver {
  url: string;
  deliveries: Delivery[];
  answer: (body: Parsed) => number | "hang";
  /** Resolves once `n` deliveries answered 2xx have arrived. */
  accepted(n: number, timeoutMs?: number): Promise<Delivery[]>;
  close(): Promise<void>;
}

export async function startAlertReceiver(): Promise<AlertReceiver> {
  const hanging = new Set<ServerResponse>();
  const receiver: Omit<AlertReceiver, "url" | "close"> = {
    deliveries: [],
    answer: () => 200,
    async accepted(n, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const ok = receiver.deliveries.filter((d) => d.answered !== "hang" && d.answered < 300);
        if (ok.length >= n) return ok;
        if (Date.now() > until)
          throw new Error(
            `only ${ok.length} of ${n} alerts accepted: ${JSON.stringify(receiver.deliveries)}`,
          );
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
  const server = createServer((req, res) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      raw += chunk;
    });
    req.on("end", () => {
      const body = JSON.parse(raw) as Parsed;
      const answered = receiver.answer(body);
      receiver.deliveries.push({ path: req.url ?? "", headers: req.headers, raw, body, answered });
      if (answered === "hang") {
        hanging.add(res);
        return;
      }
      res.writeHead(answered, { "content-type": "text/plain" }).end(answered < 300 ? "ok" : "no");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}
