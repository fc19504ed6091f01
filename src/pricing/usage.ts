/**
 * Tokens of one exchange, normalised across providers so one price formula
 * fits all. `input` is uncached input only; `output` is every billed output
 * token, reasoning included (`reasoning` says how many of them it was).
 */
export interface Usage {
  input: number;
  cached_input: number;
  cache_write: number;
  output: number;
  reasoning: number;
}

export const NO_USAGE: Readonly<Usage> = Object.freeze({
  input: 0,
  cached_input: 0,
  cache_write: 0,
  output: 0,
  reasoning: 0,
});

export function totalTokens(u: Usage): number {
  return u.input + u.cached_input + u.cache_write + u.output;
}

interface OpenAIUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  // embeddings and the Responses API use these names
  input_tokens?: number;
  output_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
  input_tokens_details?: { cached_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number } | null;
  output_tokens_details?: { reasoning_tokens?: number } | null;
}

/** OpenAI's prompt_tokens INCLUDES the cached tokens; split them out. */
export function fromOpenAIUsage(u: OpenAIUsage): Usage {
  const prompt = u.prompt_tokens ?? u.input_tokens ?? 0;
  const cached = Math.min(
    prompt,
    u.prompt_tokens_details?.cached_tokens ?? u.input_tokens_details?.cached_tokens ?? 0,
  );
  return {
    input: prompt - cached,
    cached_input: cached,
    cache_write: 0,
    output: u.completion_tokens ?? u.output_tokens ?? 0,
    reasoning:
      u.completion_tokens_details?.reasoning_tokens ?? u.output_tokens_details?.reasoning_tokens ?? 0,
  };
}

interface AnthropicUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
}

/** Anthropic's input_tokens EXCLUDES cache reads and cache writes, which come separately. */
export function fromAnthropicUsage(u: AnthropicUsage): Usage {
  return {
    input: u.input_tokens ?? 0,
    cached_input: u.cache_read_input_tokens ?? 0,
    cache_write: u.cache_creation_input_tokens ?? 0,
    output: u.output_tokens ?? 0,
    reasoning: 0,
  };
}
