import { randomUUID } from "node:crypto";
import { TokenpakError } from "../errors.js";
import { validateRequest } from "../providers/validate.js";
import { estimateInput } from "../tokenize/estimate.js";
import { imageTokens } from "../tokenize/image-tokens.js";
import { failureResponse } from "./errors.js";
import type { ExchangeDeps } from "./exchange.js";
import { anthropicHeaders, providerRedactor } from "./forward.js";
import { modelConfig, providerOf, readBody } from "./intake.js";
import { readAll } from "./relay-json.js";

/**
 * POST /v1/messages/count_tokens (Anthropic's `messages.countTokens`): free at
 * the provider, so never reserved nor charged. A model on an Anthropic
 * provider is asked there, which counts exactly; any other is answered with
 * the count tokenpak's own estimate uses — as is an Anthropic model whose
 * provider cannot be reached (`x-tokenpak-token-count: estimated`).
 */
export async function countTokens(deps: ExchangeDeps, request: Request): Promise<Response> {
  const requestId = randomUUID();
  const ids = { "x-tokenpak-request-id": requestId };
  try {
    const body = await readBody(request, deps.maxBodyBytes);
    const shape = validateRequest("messages", body);
    const model = modelConfig(deps, shape.model);
    if (!model) {
      throw new TokenpakError("unknown_model", `model ${shape.model} is not configured`, {
        available_models: Object.keys(deps.config.models ?? {}),
      });
    }
    deps.auth.identify(request.headers, body, "anthropic");
    const provider = providerOf(deps, model);
    if (provider.type === "anthropic") {
      try {
        const answer = await deps.upstreams.send(provider.name, {
          route: "messages",
          path: "/v1/messages/count_tokens",
          body: JSON.stringify({ ...body, model: model.upstream_model ?? shape.model }),
          headers: anthropicHeaders(request),
        });
        const text = providerRedactor(deps, provider.name)(await readAll(answer.body));
        return new Response(text, {
          status: answer.status,
          headers: { "content-type": "application/json", ...ids, ...answer.headers },
        });
      } catch (error) {
        deps.warn(
          `request ${requestId}: count_tokens at ${provider.name} failed (${String(error)}); answered with the estimate`,
        );
      }
    }
    const family = provider.type === "anthropic" ? "other" : "openai";
    const image = imageTokens(model.upstream_model ?? shape.model, model.image_input_tokens);
    const tokens = await estimateInput("messages", body, family, image);
    return new Response(JSON.stringify({ input_tokens: tokens }), {
      status: 200,
      headers: { "content-type": "application/json", ...ids, "x-tokenpak-token-count": "estimated" },
    });
  } catch (error) {
    return failureResponse(error, requestId, "anthropic", deps.warn);
  }
}
