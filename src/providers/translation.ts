import { TokenpakError } from "../errors.js";
import type { Json } from "./json.js";
import {
  chatToMessagesRequest,
  chatToMessagesResponse,
  chatToMessagesStream,
  messagesToChatRequest,
  messagesToChatResponse,
  messagesToChatStream,
  type StreamTranslator,
} from "./translate.js";
import {
  messagesToResponsesResponse,
  messagesToResponsesStream,
  responsesToMessagesRequest,
} from "./translate-responses.js";
import type { WireFormat } from "./wire.js";

/*
 * Which translation applies between a client's format and its provider's.
 * The pairs that occur (see `formatOf`): chat ↔ messages both ways, and a
 * Responses client on an Anthropic provider.
 */

function unsupported(from: WireFormat, to: WireFormat): TokenpakError {
  return new TokenpakError("internal_error", `no translation from the ${from} format to ${to}`);
}

/** The client's request body in the provider's format (a copy when the two agree). */
export function requestFor(client: WireFormat, upstream: WireFormat, body: Json): Json {
  if (client === upstream) return { ...body };
  if (client === "openai" && upstream === "anthropic") return chatToMessagesRequest(body);
  if (client === "anthropic" && upstream === "openai") return messagesToChatRequest(body);
  if (client === "responses" && upstream === "anthropic") return responsesToMessagesRequest(body);
  throw unsupported(client, upstream);
}

/** The provider's JSON answer in the client's format; `request` is the client's body. */
export function answerFor(upstream: WireFormat, client: WireFormat, answer: Json, request: Json): Json {
  if (client === upstream) return answer;
  if (upstream === "anthropic" && client === "openai") return messagesToChatResponse(answer);
  if (upstream === "openai" && client === "anthropic") return chatToMessagesResponse(answer);
  if (upstream === "anthropic" && client === "responses") return messagesToResponsesResponse(answer, request);
  throw unsupported(upstream, client);
}

/** The translator of the provider's stream into the client's; undefined when none is needed. */
export function streamFor(
  upstream: WireFormat,
  client: WireFormat,
  wantsUsage: boolean,
  request: Json,
): StreamTranslator | undefined {
  if (client === upstream) return undefined;
  if (upstream === "anthropic" && client === "openai") return messagesToChatStream(wantsUsage);
  if (upstream === "openai" && client === "anthropic") return chatToMessagesStream();
  if (upstream === "anthropic" && client === "responses") return messagesToResponsesStream(request);
  throw unsupported(upstream, client);
}
