import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, interceptors, request } from "undici";
import { expandHome } from "../config/paths.js";
import { unsupportedSourceScheme } from "../config/semantic.js";
import { TokenpakError } from "../errors.js";

/** A price document as read: its text and the SHA-256 of its bytes. */
export interface FetchedDocument {
  /** The source as given (URL or path). */
  source: string;
  text: string;
  sha256: string;
}

/** No price table comes near this; a larger answer is not one. */
const MAX_BYTES = 64 * 1024 * 1024;

export function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

function failed(source: string, why: string): TokenpakError {
  return new TokenpakError("pricing_fetch_failed", `cannot fetch ${source}: ${why}`, { source });
}

async function fetchUrl(url: string, timeoutMs: number): Promise<Buffer> {
  const agent = new Agent({ connectTimeout: timeoutMs });
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const res = await request(url, {
      method: "GET",
      headers: { accept: "application/json", "user-agent": "tokenpak sync-pricing" },
      dispatcher: agent.compose(interceptors.redirect({ maxRedirections: 5 })),
      signal: controller.signal,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    if (res.statusCode < 200 || res.statusCode > 299) {
      await res.body.dump();
      throw failed(url, `HTTP ${res.statusCode}`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_BYTES) {
        res.body.destroy();
        throw failed(url, `the answer is over ${MAX_BYTES / 1024 / 1024} MiB`);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  } catch (error) {
    if (error instanceof TokenpakError) throw error;
    if (controller.signal.aborted) throw failed(url, `no complete answer within ${timeoutMs / 1000} s`);
    const e = error as NodeJS.ErrnoException;
    throw failed(url, e.code ? `${e.code}${e.message ? ` (${e.message})` : ""}` : String(error));
  } finally {
    clearTimeout(timer);
    void agent.destroy();
  }
}

async function readLocal(source: string, baseDir: string): Promise<Buffer> {
  const path = source.startsWith("file:") ? fileURLToPath(source) : resolve(baseDir, expandHome(source));
  try {
    return await readFile(path);
  } catch (error) {
    throw failed(source, (error as NodeJS.ErrnoException).code ?? String(error));
  }
}

/**
 * Reads a price document: an http(s) URL (undici, redirects followed, the
 * whole answer within `timeoutMs`), a `file:` URL, or a path relative to
 * `baseDir`. Throws `pricing_fetch_failed` with a one-line reason.
 */
export async function fetchDocument(
  source: string,
  options: { timeoutMs: number; baseDir: string },
): Promise<FetchedDocument> {
  const scheme = unsupportedSourceScheme(source);
  if (scheme !== undefined)
    throw failed(source, `${scheme}: is not supported (http:, https:, file: or a local path)`);
  const bytes = isUrl(source)
    ? await fetchUrl(source, options.timeoutMs)
    : await readLocal(source, options.baseDir);
  return {
    source,
    text: bytes.toString("utf8"),
    sha256: createHash("sha256").update(bytes).digest("hex"),
  };
}
