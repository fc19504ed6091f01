import type { Json } from "./json.js";

/** The two wire formats: OpenAI (chat/completions, embeddings) and Anthropic (messages). */
export type WireFormat = "openai" | "anthropic";

export type ProviderType = "openai" | "anthropic" | "openai-compatible" | "mock";

/** The budgeted routes: OpenAI chat/completions, Anthropic messages, OpenAI embeddings. */
export type Route = "chat" | "messages" | "embeddings";

/** The format a route's clients speak. */
export function routeFormat(route: Route): WireFormat {
  return route === "messages" ? "anthropic" : "openai";
}

/** What a provider of this type speaks; the mock speaks whatever it is asked in. */
export function formatOf(type: ProviderType, asked: WireFormat): WireFormat {
  if (type === "mock") return asked;
  return type === "anthropic" ? "anthropic" : "openai";
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
  return format === "anthropic" ? "/v1/messages" : "/chat/completions";
}

/**
 * Sets the output cap the reservation paid for, in the one field the provider
 * honours: OpenAI reads `max_completion_tokens` (and refuses `max_tokens` for
 * reasoning models), compatible servers and Anthropic read `max_tokens`. A
 * body that carried both sends only that one, so no cap goes up unpriced.
 */
export function setMaxTokens(body: Json, format: WireFormat, type: ProviderType, maxTokens: number): void {
  const completion = body.max_completion_tokens !== undefined && body.max_completion_tokens !== null;
  const plain = body.max_tokens !== undefined && body.max_tokens !== null;
  const useCompletion = format === "openai" && completion && (type === "openai" || !plain);
  delete body.max_completion_tokens;
  delete body.max_tokens;
  if (useCompletion) body.max_completion_tokens = maxTokens;
  else body.max_tokens = maxTokens;
}
