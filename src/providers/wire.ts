import type { Json } from "./json.js";

/** The two wire formats: OpenAI (chat/completions, embeddings) and Anthropic (messages). */
export type WireFormat = "openai" | "anthropic";

export type ProviderType = "openai" | "anthropic" | "openai-compatible" | "mock";

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
export function upstreamPath(route: "chat" | "messages" | "embeddings", format: WireFormat): string {
  if (route === "embeddings") return "/embeddings";
  return format === "anthropic" ? "/v1/messages" : "/chat/completions";
}

/** Sets the output cap the reservation paid for, in the field the format uses. */
export function setMaxTokens(body: Json, format: WireFormat, maxTokens: number): void {
  if (format === "openai" && body.max_completion_tokens !== undefined) body.max_completion_tokens = maxTokens;
  else body.max_tokens = maxTokens;
}
