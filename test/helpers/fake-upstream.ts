import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type MockOptions, mockRespond } from "../../src/providers/mock.js";
import type { Route } from "../../src/providers/wire.js";
import { countTextTokens, estimateMessagesInput } from "../../src/tokenize/estimate.js";

export interface SeenRequest {
  path: string;
  headers: IncomingMessage["headers"];
  body: Record<string, unknown>;
  /** The body as sent, byte for byte. */
  text: string;
  /**
   * What the fake generated for this request and wrote out (tokens by
   * gpt-tokenizer, as the mock counts them): the usage it reported, or for a
   * stream cut short, the text it got out before the cut.
   */
  generated?: { input: number; output: number };
  /**
   * The status it answered with; undefined while it has not (a hang). A
   * provider bills a request it answered with an error status for nothing.
   */
  status?: number;
}

/** What the fake does with the next request: answer normally, fail, hang, or cut the connection mid-answer. */
export type Behaviour =
  | { kind: "normal" }
  /** Answer with this status and body (`text`: these exact bytes instead of `body` as JSON). */
  | { kind: "status"; status: number; body?: unknown; text?: string; contentType?: string }
  | { kind: "hang" }
  | { kind: "delay"; ms: number }
  /** Stream slowly: wait this long between events. */
  | { kind: "drip"; ms: number }
  /** Report this usage instead of the true one (JSON answers, and a stream's usage event). */
  | { kind: "usage"; usage: Record<string, unknown> }
  /** Report no usage at all. */
  | { kind: "no-usage" }
  /**
   * Report the true usage with these fields garbled: replaced by the value
   * given, `"$string"` for the true count as a string, `"$drop"` to leave it out.
   */
  | { kind: "garble"; fields: Record<string, unknown> }
  /** Ignore `stream: true` and answer with JSON, as some providers and proxies do. */
  | { kind: "ignore-stream" }
  /** Stream this many events, then a provider error event in the route's format, then end. */
  | { kind: "stream-error"; after: number }
  /** Responses API: stream this many events, then `response.failed` (with the usage so far), then end. */
  | { kind: "failed"; after: number }
  /** Stream this many events, then close the connection without finishing the response. */
  | { kind: "cut"; after: number };

export interface FakeUpstream {
  /** http://127.0.0.1:PORT — use `${url}/v1` as an OpenAI base_url and `url` as an Anthropic one. */
  url: string;
  requests: SeenRequest[];
  /** Answers whose client (the proxy) went away before the end. */
  cutOff: number;
  /** Behaviours for the next requests, consumed in order; then "normal". */
  next: Behaviour[];
  /** When set, picks each request's behaviour from its body (before `next`): for concurrent requests. */
  behaviourFor?: ((body: Record<string, unknown>) => Behaviour | undefined) | undefined;
  options: MockOptions;
  close(): Promise<void>;
}

const ROUTES: Record<string, Route> = {
  "/v1/chat/completions": "chat",
  "/v1/messages": "messages",
  "/v1/embeddings": "embeddings",
  "/v1/responses": "responses",
};

type Raw = Record<string, unknown>;

function parse(data: string): Raw | undefined {
  try {
    const v = JSON.parse(data) as unknown;
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Raw) : undefined;
  } catch {
    return undefined;
  }
}

/** The text of an SSE event's deltas (every format), and the usage it carries, if any. */
function eventParts(event: string): { text: string; usage?: Raw; data?: Raw } {
  const line = event.split("\n").find((l) => l.startsWith("data: "));
  const data = line ? parse(line.slice(6)) : undefined;
  if (!data) return { text: "" };
  let text = "";
  for (const c of (data.choices as Raw[] | undefined) ?? []) {
    const delta = (c.delta as Raw | undefined) ?? {};
    if (typeof delta.content === "string") text += delta.content;
  }
  const delta = data.delta as Raw | undefined;
  if (data.type === "content_block_delta" && typeof delta?.text === "string") text += delta.text;
  // Responses API: every generated text (output text, function arguments) comes in a `*.delta` event.
  if (typeof data.type === "string" && data.type.startsWith("response.") && typeof data.delta === "string")
    text += data.delta;
  const usage = (data.usage ?? (data.response as Raw | undefined)?.usage) as Raw | undefined;
  const message = data.message as Raw | undefined;
  return { text, data, ...(usage ? { usage } : message?.usage ? { usage: message.usage as Raw } : {}) };
}

function garbled(usage: Raw, fields: Record<string, unknown>): Raw {
  const out: Raw = { ...usage };
  for (const [k, v] of Object.entries(fields)) {
    if (!(k in out)) continue;
    if (v === "$drop") delete out[k];
    else out[k] = v === "$string" ? String(out[k]) : v;
  }
  return out;
}

/** A stream's events with the usage changed by `change` (undefined: removed), where an event carries it. */
function withUsage(events: string[], change: (usage: Raw) => Raw | undefined): string[] {
  return events.flatMap((e) => {
    const { data } = eventParts(e);
    if (!data) return [e];
    const isUsageChunk = Array.isArray(data.choices) && data.choices.length === 0 && data.usage;
    if (isUsageChunk) {
      const usage = change(data.usage as Raw);
      return usage ? [`data: ${JSON.stringify({ ...data, usage })}\n\n`] : [];
    }
    if (data.type === "message_delta") {
      const out = { ...data, usage: change(data.usage as Raw) ?? {} };
      return [`event: message_delta\ndata: ${JSON.stringify(out)}\n\n`];
    }
    const response = data.response as Raw | undefined;
    if (response?.usage) {
      const usage = change(response.usage as Raw);
      const out = { ...data, response: { ...response, ...(usage ? { usage } : { usage: null }) } };
      return [`event: ${String(data.type)}\ndata: ${JSON.stringify(out)}\n\n`];
    }
    return [e];
  });
}

/** A JSON answer with its usage changed by `change`. */
function withJsonUsage(events: string[], change: (usage: Raw) => Raw | undefined): string[] {
  const answer = parse(events.join("")) ?? {};
  return [JSON.stringify({ ...answer, usage: change((answer.usage as Raw | undefined) ?? {}) })];
}

function errorEvent(route: Route): string {
  if (route === "responses") {
    const error = { type: "error", code: "server_error", message: "The server is overloaded", param: null };
    return `event: error\ndata: ${JSON.stringify({ ...error, sequence_number: 999 })}\n\n`;
  }
  return route === "messages"
    ? `event: error\ndata: ${JSON.stringify({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } })}\n\n`
    : `data: ${JSON.stringify({ error: { message: "The server is overloaded", type: "server_error", code: null } })}\n\n`;
}

/** A Responses stream's `response.failed`, reporting the input and the output written before it. */
function failedEvent(input: number, output: number): string {
  const response = {
    id: "resp_failed",
    object: "response",
    status: "failed",
    error: { code: "server_error", message: "The model failed mid-answer" },
    output: [],
    usage: {
      input_tokens: input,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: output,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: input + output,
    },
  };
  return `event: response.failed\ndata: ${JSON.stringify({ type: "response.failed", sequence_number: 998, response })}\n\n`;
}

async function collect(chunks: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

/** Events of an SSE text, each with its blank-line terminator. */
function splitEvents(text: string): string[] {
  return (text.match(/[\s\S]*?\n\n/g) ?? []).filter((e) => e.trim() !== "");
}

function write(res: ServerResponse, text: string): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed) resolve();
    else res.write(text, () => resolve());
  });
}

/**
 * A provider on loopback that speaks OpenAI and Anthropic (JSON and SSE), with
 * the mock provider's deterministic answers, and records what it was sent and
 * what it generated. Behaviours make it misbehave as real providers do.
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

  const answer = async (req: IncomingMessage, res: ServerResponse, text: string) => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    const route = ROUTES[path];
    const body = text ? (JSON.parse(text) as Raw) : {};
    const seen: SeenRequest = { path, headers: req.headers, body, text };
    fake.requests.push(seen);
    if (path === "/v1/messages/count_tokens") {
      // Anthropic's own count: here the plain tokenizer count, without the margin tokenpak's estimate adds.
      const tokens = estimateMessagesInput(body, "openai");
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ input_tokens: tokens }));
      return;
    }
    if (!route) {
      res.writeHead(404, { "content-type": "application/json" }).end('{"error":{"message":"no such route"}}');
      return;
    }
    const behaviour = fake.behaviourFor?.(body) ?? fake.next.shift() ?? { kind: "normal" };
    if (behaviour.kind === "hang") {
      hanging.add(res);
      return;
    }
    if (behaviour.kind === "status") {
      seen.status = behaviour.status;
      res
        .writeHead(behaviour.status, { "content-type": behaviour.contentType ?? "application/json" })
        .end(behaviour.text ?? JSON.stringify(behaviour.body));
      return;
    }
    if (behaviour.kind === "delay") await new Promise((r) => setTimeout(r, behaviour.ms));
    const asked = behaviour.kind === "ignore-stream" ? { ...body, stream: false } : body;
    const mock = mockRespond(route, asked, fake.options);
    const chunks = await collect(mock.chunks);
    const sse = mock.contentType === "text/event-stream";
    let events = sse ? splitEvents(chunks.join("")) : chunks;
    // What it truly generated, before any misreporting.
    const all = sse ? events.map(eventParts) : [];
    const usages = sse
      ? all.flatMap((p) => (p.usage ? [p.usage] : []))
      : [parse(chunks.join(""))?.usage as Raw];
    const firstUsage = usages[0];
    const trueUsage = usages.at(-1);
    const change =
      behaviour.kind === "usage"
        ? () => behaviour.usage
        : behaviour.kind === "no-usage"
          ? () => undefined
          : behaviour.kind === "garble"
            ? (u: Raw) => garbled(u, behaviour.fields)
            : undefined;
    if (change) events = sse ? withUsage(events, change) : withJsonUsage(events, change);
    const input = Number(firstUsage?.prompt_tokens ?? firstUsage?.input_tokens ?? 0);
    const reported = trueUsage?.completion_tokens ?? trueUsage?.output_tokens;
    const fullOutput =
      typeof reported === "number" ? reported : countTextTokens(all.map((p) => p.text).join(""));
    // Output counts once it is written out: a JSON answer whole, a stream event by event.
    seen.generated = { input, output: 0 };

    seen.status = mock.status;
    res.writeHead(mock.status, {
      "content-type": mock.contentType,
      "x-request-id": `fake-${fake.requests.length}`,
    });
    res.on("close", () => {
      if (!res.writableEnded) fake.cutOff++;
    });
    const stopAt =
      behaviour.kind === "stream-error" || behaviour.kind === "cut" || behaviour.kind === "failed"
        ? Math.min(behaviour.after, events.length)
        : events.length;
    let written = "";
    for (const [i, event] of events.entries()) {
      if (i >= stopAt || res.destroyed) break;
      await write(res, event);
      if (!sse) seen.generated.output = fullOutput;
      else {
        written += eventParts(event).text;
        seen.generated.output = countTextTokens(written);
      }
      if (behaviour.kind === "drip") await new Promise((r) => setTimeout(r, behaviour.ms));
    }
    if (sse && stopAt === events.length) seen.generated.output = fullOutput;
    if (behaviour.kind === "stream-error" && !res.destroyed) await write(res, errorEvent(route));
    if (behaviour.kind === "failed" && !res.destroyed) {
      // The provider bills what it generated before failing, and says so (other formats: an error event).
      await write(res, route === "responses" ? failedEvent(input, seen.generated.output) : errorEvent(route));
    }
    if (behaviour.kind === "cut") {
      // Close without ending the chunked body: the reader sees the connection lost mid-answer.
      res.socket?.end();
      return;
    }
    res.end();
  };

  const server: Server = createServer((req, res) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      text += chunk;
    });
    req.on("end", () => {
      if (options.also?.(req, res)) return;
      void answer(req, res, text);
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
