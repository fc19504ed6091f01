import type { Json } from "./json.js";

/**
 * The wire formats: OpenAI chat/completions (and embeddings), Anthropic
 * messages, and OpenAI's Responses API — each with its own request, answer,
 * stream and error shapes (Responses errors share OpenAI's `{"error": …}`).
 */
export type WireFormat = "openai" | "anthropic" | "responses";

export type ProviderType = "openai" | "anthropic" | "openai-compatible" | "mock";

/** The budgeted routes: OpenAI chat/completions, Anthropic messages, OpenAI embeddings and responses. */
export type Route = "chat" | "messages" | "embeddings" | "responses";

/** The format a route's clients speak. */
export function routeFormat(route: Route): WireFormat {
  if (route === "messages") return "anthropic";
  return route === "responses" ? "responses" : "openai";
}

/**
 * What a provider of this type is spoken to in, for a client of `asked`: the
 * mock speaks whatever it is asked in; OpenAI-type providers take chat and
 * Responses requests as they are; Anthropic takes messages, into which the
 * other two are translated.
 */
export function formatOf(type: ProviderType, asked: WireFormat): WireFormat {
  if (type === "mock") return asked;
  if (type === "anthropic") return "anthropic";
  return asked === "responses" ? "responses" : "openai";
}

/** Base URLs follow each official SDK's convention: OpenAI's includes /v1, Anthropic's does not. */
export const DEFAULT_BASE_URL: Record<Exclude<ProviderType, "mock">, string | undefined> = {
  openai: "https://api.openai.com/v1",
  anthropic: "https://api.anthropic.com",
  "openai-compatible": undefined,
};

/** Upstream path, relative to the provider's base URL. */
export function upstreamPath(route: Route, format: WireFormat): string {
  if (route === "embeddings") return "/embeddings";
  if (format === "anthropic") return "/v1/messages";
  return format === "responses" ? "/responses" : "/chat/completions";
}

/**
 * Sets the output cap the reservation paid for, in the one field the provider
 * honours: OpenAI reads `max_completion_tokens` (and refuses `max_tokens` for
 * reasoning models), compatible servers and Anthropic read `max_tokens`, the
 * Responses API `max_output_tokens`. A body that carried both chat fields
 * sends only one, so no cap goes up unpriced.
 */
export function setMaxTokens(body: Json, format: WireFormat, type: ProviderType, maxTokens: number): void {
  if (format === "responses") {
    body.max_output_tokens = maxTokens;
    return;
  }
  const completion = body.max_completion_tokens !== undefined && body.max_completion_tokens !== null;
  const plain = body.max_tokens !== undefined && body.max_tokens !== null;
  const useCompletion = format === "openai" && completion && (type === "openai" || !plain);
  delete body.max_completion_tokens;
  delete body.max_tokens;
  if (useCompletion) body.max_completion_tokens = maxTokens;
  else body.max_tokens = maxTokens;
}
