import { EventEmitter } from "node:events";
import { Pool } from "undici";
import { TokenpakError } from "../errors.js";
import { obj, parseJson } from "./json.js";
import { type MockOptions, mockRespond } from "./mock.js";
import { DEFAULT_BASE_URL, type ProviderType, type Route } from "./wire.js";

export interface ProviderSettings {
  name: string;
  type: ProviderType;
  apiKey?: string | undefined;
  baseUrl?: string | undefined;
  timeoutMs: number;
  mock: MockOptions;
}

export interface UpstreamResponse {
  status: number;
  contentType: string;
  /** Response headers worth passing on (request ids, rate-limit hints). */
  headers: Record<string, string>;
  body: AsyncIterable<Uint8Array | string>;
}

export interface UpstreamRequest {
  route: Route;
  path: string;
  /** The request body, as the JSON text to send. */
  body: string;
  /** Extra headers for the provider (anthropic-version, anthropic-beta). */
  headers: Record<string, string>;
  /** Streams stop when their client leaves; a JSON request is read to its end and billed whatever happens. */
  signal?: AbortSignal | UpstreamAbort | undefined;
}

/**
 * Stops an upstream call: an AbortController for the hot path. undici takes
 * an EventEmitter as `signal`, which costs next to nothing per request; the
 * AbortControllers and AbortSignal listeners it replaces took roughly a fifth
 * of the proxy's CPU per request under load (bench/proxy.ts, 20 connections).
 */
export class UpstreamAbort extends EventEmitter {
  aborted = false;

  /** The switch is its own signal (`controller.signal`, as with AbortController). */
  get signal(): this {
    return this;
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit("abort");
  }
}

const PASS_HEADERS = ["x-request-id", "request-id", "openai-processing-ms", "retry-after"];

/**
 * Sends requests to providers over one keep-alive undici Pool per provider
 * (global fetch costs several times the throughput). The mock provider is
 * answered in-process.
 */
export class Upstreams {
  private readonly pools = new Map<string, { pool: Pool; basePath: string }>();

  constructor(private readonly providers: ReadonlyMap<string, ProviderSettings>) {}

  private poolFor(p: ProviderSettings): { pool: Pool; basePath: string } {
    let entry = this.pools.get(p.name);
    if (!entry) {
      const base = p.baseUrl ?? (p.type === "mock" ? undefined : DEFAULT_BASE_URL[p.type]);
      if (!base) throw new TokenpakError("config_invalid", `provider ${p.name} has no base_url`);
      const url = new URL(base);
      entry = {
        pool: new Pool(url.origin, { connections: 128, pipelining: 1, keepAliveTimeout: 30_000 }),
        basePath: url.pathname.replace(/\/$/, ""),
      };
      this.pools.set(p.name, entry);
    }
    return entry;
  }

  async send(providerName: string, request: UpstreamRequest): Promise<UpstreamResponse> {
    const p = this.providers.get(providerName);
    if (!p) throw new TokenpakError("config_invalid", `provider ${providerName} is not configured`);
    if (p.type === "mock") {
      const answer = mockRespond(request.route, obj(parseJson(request.body)), p.mock);
      return { status: answer.status, contentType: answer.contentType, headers: {}, body: answer.chunks };
    }
    const { pool, basePath } = this.poolFor(p);
    const headers: Record<string, string> = { "content-type": "application/json", ...request.headers };
    if (p.apiKey) {
      if (p.type === "anthropic") headers["x-api-key"] = p.apiKey;
      else headers.authorization = `Bearer ${p.apiKey}`;
    }
    if (p.type === "anthropic") headers["anthropic-version"] ??= "2023-06-01";
    try {
      const res = await pool.request({
        path: basePath + request.path,
        method: "POST",
        headers,
        body: request.body,
        ...(request.signal ? { signal: request.signal } : {}),
        headersTimeout: p.timeoutMs,
        bodyTimeout: p.timeoutMs,
      });
      const pass: Record<string, string> = {};
      for (const name of PASS_HEADERS) {
        const v = res.headers[name];
        if (typeof v === "string") pass[name] = v;
      }
      const type = res.headers["content-type"];
      return {
        status: res.statusCode,
        contentType: typeof type === "string" ? type : "application/json",
        headers: pass,
        body: res.body,
      };
    } catch (error) {
      throw upstreamError(error, providerName);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((e) => e.pool.close()));
  }
}

/** Failures that happen before a request can have reached the provider: it cannot have billed them. */
const NOT_SENT = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
]);

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * Whether a failed call may have reached the provider (and so may be billed).
 * Only failures to connect are known not to have; anything else — a timeout
 * waiting for the answer, a connection lost mid-way — might have been served.
 */
export function providerReached(error: unknown): boolean {
  const cause = error instanceof TokenpakError ? error.cause : error;
  if (error instanceof TokenpakError && error.code === "config_invalid") return false;
  const code = codeOf(cause);
  return code === undefined || !NOT_SENT.has(code);
}

/** undici's failures as our codes: timeouts are 504, anything else reaching the provider is 502. */
export function upstreamError(error: unknown, provider: string): unknown {
  const code = codeOf(error);
  if (code === "UND_ERR_ABORTED" || (error as Error | null)?.name === "AbortError") return error;
  if (
    code === "UND_ERR_HEADERS_TIMEOUT" ||
    code === "UND_ERR_BODY_TIMEOUT" ||
    code === "UND_ERR_CONNECT_TIMEOUT"
  ) {
    return new TokenpakError(
      "upstream_timeout",
      `provider ${provider} did not answer in time`,
      { provider },
      { cause: error },
    );
  }
  return new TokenpakError(
    "upstream_unreachable",
    `provider ${provider} is unreachable (${code ?? "error"})`,
    { provider },
    { cause: error },
  );
}
