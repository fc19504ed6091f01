import type { ServerResponse } from "node:http";
import { UpstreamAbort } from "../providers/upstream.js";

const RESPONSE = Symbol("tokenpak.response");
type Bound = Request & { [RESPONSE]?: ServerResponse };

/**
 * serve.ts: the node response that answers `request`, so a disconnect can be
 * seen without `request.signal`, and trailers sent.
 */
export function bindResponse(request: Request, response: ServerResponse): void {
  (request as Bound)[RESPONSE] = response;
}

/**
 * A switch for the upstream call that flips when the client goes away before
 * its answer is complete. Reading `request.signal` would make
 * @hono/node-server create an AbortController per request, which is costly
 * under load; the node response's `close` event says the same thing.
 */
export function abortOnDisconnect(request: Request): UpstreamAbort {
  const abort = new UpstreamAbort();
  const res = (request as Bound)[RESPONSE];
  if (!res) {
    // Not from our server (app.fetch called directly): the standard signal.
    request.signal.addEventListener("abort", () => abort.abort(), { once: true });
  } else if (res.closed) {
    if (!res.writableFinished) abort.abort();
  } else {
    res.once("close", () => {
      if (!res.writableFinished) abort.abort();
    });
  }
  return abort;
}

/** Sends HTTP trailers at the end of a response: set before the body's last chunk is written. */
export type TrailerSender = (fields: Record<string, string>) => void;

/**
 * A way to send trailers on `request`'s response, when its client asked for
 * them (`TE: trailers`) over HTTP/1.1, whose chunked framing carries them;
 * undefined otherwise. The Fetch API's Response has no trailers, so this goes
 * to the node response bound by serve.ts.
 */
export function trailersFor(request: Request): TrailerSender | undefined {
  const te = request.headers.get("te");
  if (!te || !/(^|,)\s*trailers\s*(;|,|$)/i.test(te)) return undefined;
  const res = (request as Bound)[RESPONSE];
  if (res?.req.httpVersion !== "1.1") return undefined;
  return (fields) => {
    if (!res.writableEnded) res.addTrailers(fields);
  };
}
