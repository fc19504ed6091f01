import { randomUUID } from "node:crypto";
import { Hono } from "hono";
import { TokenpakError } from "../errors.js";
import type { PricingStatus } from "../pricing/book.js";
import { type AdminRouter, adminOnPort } from "./admin-http.js";
import { countTokens } from "./count-tokens.js";
import { errorResponse, internalError } from "./errors.js";
import { type ExchangeDeps, exchange } from "./exchange.js";
import { metricsRoute } from "./metrics-route.js";
import { listModels, retrieveModel } from "./models.js";

export interface AppDeps extends ExchangeDeps {
  prices: ExchangeDeps["prices"] & { status(now: number): PricingStatus };
}

/**
 * The proxy's HTTP surface. Builds the app; never listens (serve.ts does).
 * Only budgeted routes forward (and count_tokens, which the provider does
 * not charge for): everything else is a 404 — /admin/* too, unless
 * `server.admin_token` is set and `admin` is given.
 *
 * `host` is where it listens: GET /metrics is served beyond loopback only
 * when the config says so (metrics-route.ts).
 *
 * `deps` may be a function: the daemon's current deps (runtime.ts). Each
 * request takes them once, at its start, and is served with those to its end.
 */
export function createApp(deps: AppDeps | (() => AppDeps), admin?: AdminRouter, host = "127.0.0.1"): Hono {
  const current = typeof deps === "function" ? deps : () => deps;
  const app = new Hono();
  app.post("/v1/chat/completions", (c) => exchange(current(), "chat", c.req.raw));
  app.post("/v1/messages", (c) => exchange(current(), "messages", c.req.raw));
  app.post("/v1/embeddings", (c) => exchange(current(), "embeddings", c.req.raw));
  app.post("/v1/responses", (c) => exchange(current(), "responses", c.req.raw));
  app.post("/v1/messages/count_tokens", (c) => countTokens(current(), c.req.raw));
  // Anthropic's SDK always sends anthropic-version; OpenAI's never does.
  app.get("/v1/models", (c) =>
    c.json(listModels(current().config, c.req.header("anthropic-version") !== undefined)),
  );
  app.get("/v1/models/:id{.+}", (c) => {
    const anthropic = c.req.header("anthropic-version") !== undefined;
    try {
      return c.json(retrieveModel(current().config, c.req.param("id"), anthropic));
    } catch (error) {
      if (error instanceof TokenpakError) return errorResponse(error, anthropic ? "anthropic" : "openai");
      throw error;
    }
  });
  if (admin) {
    app.all("/admin/*", (c) => {
      const d = current();
      return adminOnPort(admin, d.config, c.req.raw, d.warn) ?? c.notFound();
    });
  }
  app.get("/healthz", (c) => {
    const deps = current();
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
  // Who may read it follows the config in force (server.metrics, server.admin_token) and where we listen.
  app.get("/metrics", (c) => metricsRoute(c, current(), host));
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
    return internalError(error, randomUUID(), format, current().warn);
  });
  return app;
}
