import { randomUUID } from "node:crypto";
import { Hono } from "hono";
import { TokenpakError } from "../errors.js";
import type { PricingStatus } from "../pricing/book.js";
import { countTokens } from "./count-tokens.js";
import { errorResponse, internalError } from "./errors.js";
import { type ExchangeDeps, exchange } from "./exchange.js";
import { metricsRoute } from "./metrics-route.js";
import { listModels, retrieveModel } from "./models.js";

export interface AppDeps extends ExchangeDeps {
  prices: ExchangeDeps["prices"] & { status(now: number): PricingStatus };
  /** With `metrics`: the bearer token GET /metrics requires, if it requires one. */
  metricsToken?: string | undefined;
}

/**
 * The proxy's HTTP surface. Builds the app; never listens (serve.ts does).
 * Only budgeted routes forward (and count_tokens, which the provider does
 * not charge for): everything else is a 404.
 */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.post("/v1/chat/completions", (c) => exchange(deps, "chat", c.req.raw));
  app.post("/v1/messages", (c) => exchange(deps, "messages", c.req.raw));
  app.post("/v1/embeddings", (c) => exchange(deps, "embeddings", c.req.raw));
  app.post("/v1/responses", (c) => exchange(deps, "responses", c.req.raw));
  app.post("/v1/messages/count_tokens", (c) => countTokens(deps, c.req.raw));
  // Anthropic's SDK always sends anthropic-version; OpenAI's never does.
  app.get("/v1/models", (c) =>
    c.json(listModels(deps.config, c.req.header("anthropic-version") !== undefined)),
  );
  app.get("/v1/models/:id{.+}", (c) => {
    const anthropic = c.req.header("anthropic-version") !== undefined;
    try {
      return c.json(retrieveModel(deps.config, c.req.param("id"), anthropic));
    } catch (error) {
      if (error instanceof TokenpakError) return errorResponse(error, anthropic ? "anthropic" : "openai");
      throw error;
    }
  });
  app.get("/healthz", (c) => {
    const { source, fetched_at, stale, revision } = deps.prices.status(deps.clock());
    const health = deps.ledger.health;
    const body = {
      ok: health.writable,
      open_reservations: deps.ledger.openReservations,
      pricing: { source, fetched_at, stale, revision },
    };
    if (health.writable) return c.json(body);
    const since = health.since !== undefined ? new Date(health.since).toISOString() : null;
    return c.json({ ...body, store: { writable: false, error: health.error, since } }, 503);
  });
  if (deps.metrics) app.get("/metrics", metricsRoute(deps.metrics, deps.metricsToken));
  app.notFound((c) => {
    const format = c.req.path.startsWith("/v1/messages") ? "anthropic" : "openai";
    return errorResponse(
      new TokenpakError(
        "not_found",
        `no route ${c.req.method} ${c.req.path}: tokenpak forwards only budgeted routes`,
      ),
      format,
    );
  });
  app.onError((error, c) => {
    const format = c.req.path.startsWith("/v1/messages") ? "anthropic" : "openai";
    return internalError(error, randomUUID(), format, deps.warn);
  });
  return app;
}
