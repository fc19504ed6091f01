import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type MockOptions, type MockRoute, mockRespond } from "../../src/providers/mock.js";

export interface SeenRequest {
  path: string;
  headers: IncomingMessage["headers"];
  body: Record<string, unknown>;
  /** The body as sent, byte for byte. */
  text: string;
}

/** What the fake does with the next request: answer normally, fail, hang, or cut the connection mid-answer. */
export type Behaviour =
  | { kind: "normal" }
  /** Answer with this status and body (`text`: these exact bytes instead of `body` as JSON). */
  | { kind: "status"; status: number; body?: unknown; text?: string }
  | { kind: "hang" }
  | { kind: "delay"; ms: number }
  /** Stream slowly: wait this long between events. */
  | { kind: "drip"; ms: number }
  | { kind: "usage"; usage: Record<string, unknown> };

export interface FakeUpstream {
  /** http://127.0.0.1:PORT — use `${url}/v1` as an OpenAI base_url and `url` as an Anthropic one. */
  url: string;
  requests: SeenRequest[];
  /** Answers whose client (the proxy) went away before the end. */
  cutOff: number;
  /** Behaviours for the next requests, consumed in order; then "normal". */
  next: Behaviour[];
  options: MockOptions;
  close(): Promise<void>;
}

const ROUTES: Record<string, MockRoute> = {
  "/v1/chat/completions": "chat",
  "/v1/messages": "messages",
  "/v1/embeddings": "embeddings",
};

/**
 * A provider on loopback that speaks OpenAI and Anthropic (JSON and SSE), with
 * the mock provider's deterministic answers, and records what it was sent.
 */
export async function startFakeUpstream(
  options: Partial<MockOptions> & {
    /** More routes on the same origin (a provider's admin API): true when it answered. */
    also?: (req: IncomingMessage, res: ServerResponse) => boolean;
  } = {},
): Promise<FakeUpstream> {
  const fake: Omit<FakeUpstream, "url" | "close"> = {
    requests: [],
    cutOff: 0,
    next: [],
    options: { replyTokens: options.replyTokens ?? 40, latencyMs: options.latencyMs ?? 0 },
  };
  const hanging = new Set<ServerResponse>();

  const server: Server = createServer((req, res) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      text += chunk;
    });
    req.on("end", async () => {
      if (options.also?.(req, res)) return;
      const path = (req.url ?? "").split("?")[0] ?? "";
      const route = ROUTES[path];
      const body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      fake.requests.push({ path, headers: req.headers, body, text });
      if (!route) {
        res
          .writeHead(404, { "content-type": "application/json" })
          .end('{"error":{"message":"no such route"}}');
        return;
      }
      const behaviour = fake.next.shift() ?? { kind: "normal" };
      if (behaviour.kind === "hang") {
        hanging.add(res);
        return;
      }
      if (behaviour.kind === "status") {
        res
          .writeHead(behaviour.status, { "content-type": "application/json" })
          .end(behaviour.text ?? JSON.stringify(behaviour.body));
        return;
      }
      if (behaviour.kind === "delay") await new Promise((r) => setTimeout(r, behaviour.ms));
      const answer = mockRespond(route, body, fake.options);
      res.writeHead(answer.status, {
        "content-type": answer.contentType,
        "x-request-id": `fake-${fake.requests.length}`,
      });
      res.on("close", () => {
        if (!res.writableEnded) fake.cutOff++;
      });
      for await (let chunk of answer.chunks) {
        if (behaviour.kind === "usage" && answer.contentType === "application/json") {
          chunk = JSON.stringify({ ...(JSON.parse(chunk) as object), usage: behaviour.usage });
        }
        if (res.destroyed) break;
        res.write(chunk);
        if (behaviour.kind === "drip") await new Promise((r) => setTimeout(r, behaviour.ms));
      }
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(fake, {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}
