import { countTextTokens, estimateResponsesInput } from "../tokenize/estimate.js";
import { arr, isObject, type Json, num, obj, str } from "./json.js";
import { type MockOptions, type MockResponse, once, pieces, replyText, stream } from "./mock-parts.js";
import { responseAsStream, responseShell } from "./responses-events.js";
import { builtinTools } from "./tools.js";

/*
 * The mock provider's Responses API, as OpenAI's behaves: stored responses
 * that a later turn continues by `previous_response_id` (billed as input, and
 * a 400 for an id it does not have), hidden reasoning tokens billed as output
 * when `reasoning` is asked for, a call of the first function or custom tool
 * (a namespace's too) when tools are offered and the last input is not a tool's output, one call of each
 * built-in tool (billed per call upstream) before the answer, and an
 * `incomplete` response when `max_output_tokens` runs out.
 */

/** What each stored response holds as context: its input and its output, in tokens. */
const stored = new Map<string, number>();
const STORED_MAX = 10_000;

function notFound(id: string, options: MockOptions): MockResponse {
  const error = {
    error: {
      message: `Previous response with id '${id}' not found.`,
      type: "invalid_request_error",
      param: "previous_response_id",
      code: "previous_response_not_found",
    },
  };
  return {
    status: 400,
    contentType: "application/json",
    chunks: once(JSON.stringify(error), options.latencyMs),
  };
}

/** A value of a JSON schema's type, so a client that validates the arguments accepts them. */
function sample(schema: unknown): unknown {
  const s = obj(schema);
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  switch (s.type) {
    case "object": {
      const out: Json = {};
      const props = obj(s.properties);
      for (const key of arr(s.required)) if (typeof key === "string") out[key] = sample(props[key]);
      return out;
    }
    case "array":
      return [];
    case "number":
    case "integer":
      return 1;
    case "boolean":
      return true;
    default:
      return "Paris";
  }
}

/** Tools the client runs that the mock can call: functions and custom tools, also inside namespaces. */
function clientTools(tools: unknown): { tool: Json; namespace?: string }[] {
  return arr(tools)
    .map(obj)
    .flatMap((t) => {
      if (t.type === "function" || t.type === "custom") return [{ tool: t }];
      const namespace = str(t.name);
      if (t.type !== "namespace" || namespace === undefined) return [];
      return arr(t.tools)
        .map(obj)
        .filter((inner) => inner.type === "function" || inner.type === "custom")
        .map((inner) => ({ tool: inner, namespace }));
    });
}

/** The client tool the mock calls: the one `tool_choice` names, else the first, unless the turn is a tool's result. */
function calledTool(body: Json): { tool: Json; namespace?: string } | undefined {
  if (body.tool_choice === "none") return undefined;
  const last = obj(arr(body.input).at(-1));
  if (last.type === "function_call_output" || last.type === "custom_tool_call_output") return undefined;
  const tools = clientTools(body.tools);
  const named = isObject(body.tool_choice) ? str(body.tool_choice.name) : undefined;
  return tools.find((t) => t.tool.name === named) ?? tools[0];
}

/** The call item of a client tool, with the text the model generated for it. */
function clientCall(called: { tool: Json; namespace?: string }, n: string): { item: Json; text: string } {
  const { tool, namespace } = called;
  const common = {
    status: "completed",
    call_id: `call_${n}`,
    name: tool.name,
    ...(namespace !== undefined ? { namespace } : {}),
  };
  if (tool.type === "custom") {
    const input = "print('budgets')";
    return { item: { id: `ctc_${n}`, type: "custom_tool_call", ...common, input }, text: input };
  }
  const args = JSON.stringify(sample(tool.parameters));
  return { item: { id: `fc_${n}`, type: "function_call", ...common, arguments: args }, text: args };
}

function builtinCall(kind: string, n: number): Json {
  const id = `${kind.slice(0, 2)}_mock${n}`;
  if (kind === "web_search")
    return { id, type: "web_search_call", status: "completed", action: { type: "search", query: "budgets" } };
  if (kind === "file_search")
    return { id, type: "file_search_call", status: "completed", queries: ["budgets"], results: null };
  if (kind === "code_interpreter") {
    return {
      id,
      type: "code_interpreter_call",
      status: "completed",
      code: "print(1)",
      container_id: "cntr_mock",
      outputs: null,
    };
  }
  return { id, type: `${kind}_call`, status: "completed" };
}

export function mockResponses(body: Json, options: MockOptions, n: string): MockResponse {
  const previous = str(body.previous_response_id);
  const context = previous !== undefined ? stored.get(previous) : 0;
  if (previous !== undefined && context === undefined) return notFound(previous, options);
  const id = `resp_${n.replace(/\W/g, "")}`;
  const input = estimateResponsesInput(body, "openai") + (context ?? 0);
  const cap = Math.max(0, num(body.max_output_tokens) ?? Number.POSITIVE_INFINITY);
  const output: Json[] = [];
  let spent = 0;
  let reasoning = 0;
  /** Whether max_output_tokens ran out before the answer was whole. */
  let truncated = false;
  if (isObject(body.reasoning) && body.reasoning.effort !== "none") {
    reasoning = Math.min(options.replyTokens, cap);
    truncated = reasoning < options.replyTokens;
    spent += reasoning;
    output.push({ id: `rs_${n}`, type: "reasoning", summary: [] });
  }
  const fn = calledTool(body);
  const maxCalls = num(body.max_tool_calls) ?? Number.POSITIVE_INFINITY;
  for (const [i, kind] of builtinTools(body.tools).entries()) {
    if (fn || i >= maxCalls) break;
    output.push(builtinCall(kind, i));
  }
  if (fn) {
    const call = clientCall(fn, n);
    const tokens = countTextTokens(`${str(fn.tool.name) ?? ""}${call.text}`);
    truncated ||= tokens > cap - spent;
    spent += Math.min(cap - spent, tokens);
    if (!truncated) output.push(call.item);
  } else if (!truncated) {
    const tokens = Math.min(options.replyTokens, cap - spent);
    truncated = tokens < options.replyTokens;
    spent += tokens;
    output.push({
      id: `msg_${n}`,
      type: "message",
      status: truncated ? "incomplete" : "completed",
      role: "assistant",
      content: [{ type: "output_text", text: replyText(tokens), annotations: [], logprobs: [] }],
    });
  }
  const answer: Json = {
    ...responseShell(body, id, body.model, Math.floor(Date.now() / 1000)),
    status: truncated ? "incomplete" : "completed",
    incomplete_details: truncated ? { reason: "max_output_tokens" } : null,
    output,
    usage: {
      input_tokens: input,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: spent,
      output_tokens_details: { reasoning_tokens: reasoning },
      total_tokens: input + spent,
    },
  };
  if (body.store !== false) {
    stored.set(id, input + spent);
    if (stored.size > STORED_MAX) stored.delete(stored.keys().next().value ?? "");
  }
  if (body.stream !== true) {
    return {
      status: 200,
      contentType: "application/json",
      chunks: once(JSON.stringify(answer), options.latencyMs),
    };
  }
  const events = responseAsStream(answer, pieces).match(/[\s\S]*?\n\n/g) ?? [];
  return { status: 200, contentType: "text/event-stream", chunks: stream(events, options.latencyMs) };
}
