import { arr, isObject, type Json, num, obj, parseJson, str } from "./json.js";
import { ResponsesEvents, responseShell } from "./responses-events.js";
import type { SseEvent } from "./sse.js";
import { builtinTools } from "./tools.js";
import { anthropicTurns, imageBlock, parseArguments, type StreamTranslator } from "./translate.js";

/*
 * A Responses API request served by an Anthropic provider: the request
 * translated into a messages request, and the message (JSON or SSE) back into
 * a Responses answer. Text, instructions, images, PDFs, function tools and
 * their results translate; what only OpenAI can serve (stored conversations,
 * stored prompts, built-in tools, structured output) is refused before
 * anything is reserved — see `untranslatable`.
 */

/** Why a Responses request cannot be served by an Anthropic provider; undefined when it can. */
export function untranslatable(body: Json): { param: string; message: string } | undefined {
  const onlyOpenAI = (param: string, what: string) => ({
    param,
    message: `${what} cannot be translated for an Anthropic provider, which keeps no state and runs no OpenAI tools; send the whole conversation in \`input\` or use an OpenAI model`,
  });
  if (body.previous_response_id !== undefined && body.previous_response_id !== null)
    return onlyOpenAI("previous_response_id", "`previous_response_id` (a conversation stored at OpenAI)");
  if (body.conversation !== undefined && body.conversation !== null)
    return onlyOpenAI("conversation", "`conversation` (a conversation stored at OpenAI)");
  if (body.prompt !== undefined && body.prompt !== null)
    return onlyOpenAI("prompt", "`prompt` (a prompt template stored at OpenAI)");
  const builtin = builtinTools(body.tools);
  if (builtin.length > 0) return onlyOpenAI("tools", `the built-in tool \`${builtin[0]}\``);
  // Client-run tools other than functions (custom, namespace, computer, shells) have no Anthropic form:
  // dropped, the model could not call them and nobody would be told.
  const other = arr(body.tools)
    .map((t) => str(obj(t).type))
    .find((type) => type !== "function");
  if (other !== undefined) return onlyOpenAI("tools", `a \`${other}\` tool`);
  const format = str(obj(obj(body.text).format).type);
  if (format !== undefined && format !== "text")
    return onlyOpenAI("text.format", `structured output (\`text.format\` ${format})`);
  for (const raw of Array.isArray(body.input) ? body.input : []) {
    const item = obj(raw);
    if (item.type === "item_reference")
      return onlyOpenAI("input", "an `item_reference` (an item stored at OpenAI)");
    for (const p of arr(item.content)) {
      const part = obj(p);
      if (part.type === "input_image" && str(part.image_url) === undefined)
        return onlyOpenAI("input", "an `input_image` given by `file_id` (a file stored at OpenAI)");
      if (part.type === "input_file" && str(part.file_data) === undefined)
        return onlyOpenAI("input", "an `input_file` given by `file_id` or `file_url`");
    }
  }
  return undefined;
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  return arr(content)
    .map((p) => str(obj(p).text) ?? str(obj(p).refusal) ?? "")
    .join("");
}

function fileBlock(part: Json): Json {
  const fileData = str(part.file_data) ?? "";
  const data = /^data:([^;]+);base64,(.*)$/s.exec(fileData);
  return {
    type: "document",
    source: { type: "base64", media_type: data?.[1] ?? "application/pdf", data: data?.[2] ?? fileData },
  };
}

function contentBlocks(content: unknown): Json[] {
  if (typeof content === "string") return content ? [{ type: "text", text: content }] : [];
  return arr(content).flatMap((p): Json[] => {
    const part = obj(p);
    if (part.type === "input_image") return [imageBlock(str(part.image_url) ?? "")];
    if (part.type === "input_file") return [fileBlock(part)];
    const text = str(part.text) ?? str(part.refusal) ?? "";
    return text ? [{ type: "text", text }] : [];
  });
}

/** Responses API request → Anthropic messages request. */
export function responsesToMessagesRequest(body: Json): Json {
  const system: string[] = [];
  const { messages, push } = anthropicTurns();
  if (typeof body.instructions === "string" && body.instructions) system.push(body.instructions);
  const input = body.input;
  if (typeof input === "string") push("user", contentBlocks(input));
  for (const raw of Array.isArray(input) ? input : []) {
    const item = obj(raw);
    const role = str(item.role);
    if (item.type === "function_call") {
      push("assistant", [
        {
          type: "tool_use",
          id: str(item.call_id) ?? "",
          name: str(item.name) ?? "",
          input: parseArguments(item.arguments),
        },
      ]);
    } else if (item.type === "function_call_output") {
      const output = item.output;
      push("user", [
        {
          type: "tool_result",
          tool_use_id: str(item.call_id) ?? "",
          content: typeof output === "string" ? output : contentBlocks(output),
        },
      ]);
    } else if (role === "system" || role === "developer") {
      system.push(textOf(item.content));
    } else if (role === "user" || role === "assistant") {
      push(role, contentBlocks(item.content));
    }
    // Reasoning items are OpenAI's own (encrypted) state: Anthropic cannot read them.
  }
  const out: Json = { model: body.model, messages };
  if (system.length > 0) out.system = system.join("\n\n");
  const maxTokens = num(body.max_output_tokens);
  if (maxTokens !== undefined) out.max_tokens = maxTokens;
  if (body.temperature !== undefined && body.temperature !== null) out.temperature = body.temperature;
  if (body.top_p !== undefined && body.top_p !== null) out.top_p = body.top_p;
  if (body.stream === true) out.stream = true;
  const user = str(body.user) ?? str(body.safety_identifier);
  if (user !== undefined) out.metadata = { user_id: user };
  const tools = arr(body.tools).filter((t) => obj(t).type === "function");
  if (tools.length > 0) {
    out.tools = tools.map((t) => {
      const tool = obj(t);
      return {
        name: tool.name,
        ...(tool.description !== undefined && tool.description !== null
          ? { description: tool.description }
          : {}),
        input_schema: tool.parameters ?? { type: "object" },
      };
    });
  }
  const choice = body.tool_choice;
  let toolChoice: Json | undefined;
  if (choice === "auto") toolChoice = { type: "auto" };
  else if (choice === "required") toolChoice = { type: "any" };
  else if (choice === "none") toolChoice = { type: "none" };
  else if (isObject(choice) && choice.type === "function") toolChoice = { type: "tool", name: choice.name };
  if (body.parallel_tool_calls === false && tools.length > 0)
    toolChoice = { type: "auto", ...toolChoice, disable_parallel_tool_use: true };
  if (toolChoice) out.tool_choice = toolChoice;
  return out;
}

// ---------- answers ----------

/** The Responses usage of an Anthropic usage: input counts cache reads and writes, as OpenAI's does. */
function responsesUsage(usage: Json): Json {
  const cached = num(usage.cache_read_input_tokens) ?? 0;
  const input = (num(usage.input_tokens) ?? 0) + cached + (num(usage.cache_creation_input_tokens) ?? 0);
  const output = num(usage.output_tokens) ?? 0;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: cached },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input + output,
  };
}

/** A Responses id made from an Anthropic one: `msg_01…` → `resp_01…`. */
function responseId(messageId: unknown): string {
  const id = str(messageId) ?? "";
  return `resp_${id.startsWith("msg_") ? id.slice(4) : id}`;
}

function finished(stopReason: unknown): Pick<Json, "status" | "incomplete_details"> {
  return stopReason === "max_tokens"
    ? { status: "incomplete", incomplete_details: { reason: "max_output_tokens" } }
    : { status: "completed", incomplete_details: null };
}

function messageItem(id: string, text: string, status = "completed"): Json {
  return {
    id,
    type: "message",
    status,
    role: "assistant",
    content: [{ type: "output_text", text, annotations: [], logprobs: [] }],
  };
}

function callItem(block: Json, args: string, status = "completed"): Json {
  const callId = str(block.id) ?? "";
  return {
    id: `fc_${callId}`,
    type: "function_call",
    status,
    call_id: callId,
    name: block.name,
    arguments: args,
  };
}

function reasoningItem(id: string, thinking: string): Json {
  return { id, type: "reasoning", summary: thinking ? [{ type: "summary_text", text: thinking }] : [] };
}

/** Anthropic message → Responses API response (`request` is the client's, for the fields a response echoes). */
export function messagesToResponsesResponse(message: Json, request: Json): Json {
  const id = responseId(message.id);
  const output: Json[] = [];
  for (const [i, b] of arr(message.content).entries()) {
    const block = obj(b);
    if (block.type === "text") output.push(messageItem(`msg_${id.slice(5)}_${i}`, str(block.text) ?? ""));
    else if (block.type === "tool_use") output.push(callItem(block, JSON.stringify(block.input ?? {})));
    else if (block.type === "thinking")
      output.push(reasoningItem(`rs_${id.slice(5)}_${i}`, str(block.thinking) ?? ""));
  }
  return {
    ...responseShell(request, id, message.model, Math.floor(Date.now() / 1000)),
    ...finished(message.stop_reason),
    output,
    usage: responsesUsage(obj(message.usage)),
  };
}

// ---------- streams ----------

/** Anthropic SSE → Responses API SSE. */
export function messagesToResponsesStream(request: Json): StreamTranslator {
  const w = new ResponsesEvents();
  const createdAt = Math.floor(Date.now() / 1000);
  let base: Json = responseShell(request, "resp_", request.model, createdAt);
  const output: Json[] = [];
  /** The item each Anthropic content block became, by the block's index. */
  const open = new Map<number, { index: number; kind: string; block: Json; text: string }>();
  let usage: Json = {};
  let stop: unknown;
  let done = false;
  const finish = () => {
    if (done) return "";
    done = true;
    return w.finish({ ...base, ...finished(stop), output, usage: responsesUsage(usage) });
  };
  return {
    event(e: SseEvent) {
      const data = obj(parseJson(e.data));
      switch (data.type) {
        case "message_start": {
          const message = obj(data.message);
          base = responseShell(request, responseId(message.id), message.model, createdAt);
          usage = { ...obj(message.usage) };
          return w.start(base);
        }
        case "content_block_start": {
          const block = obj(data.content_block);
          const blockIndex = num(data.index) ?? open.size;
          const index = output.length;
          const kind = str(block.type) ?? "text";
          const entry = { index, kind, block, text: "" };
          open.set(blockIndex, entry);
          if (kind === "tool_use") {
            output.push(callItem(block, "", "in_progress"));
            return w.openCall(index, callItem(block, ""));
          }
          if (kind === "thinking") {
            const item = reasoningItem(`rs_${str(base.id)?.slice(5)}_${index}`, "");
            output.push(item);
            return w.event("response.output_item.added", { output_index: index, item });
          }
          const id = `msg_${str(base.id)?.slice(5)}_${index}`;
          output.push(messageItem(id, "", "in_progress"));
          return w.openMessage(index, id);
        }
        case "content_block_delta": {
          const entry = open.get(num(data.index) ?? 0);
          const delta = obj(data.delta);
          if (!entry) return "";
          const id = str(obj(output[entry.index]).id) ?? "";
          if (delta.type === "text_delta" && entry.kind === "text") {
            const text = str(delta.text) ?? "";
            entry.text += text;
            return text ? w.textDelta(entry.index, id, 0, text) : "";
          }
          if (delta.type === "input_json_delta" && entry.kind === "tool_use") {
            const json = str(delta.partial_json) ?? "";
            entry.text += json;
            return json ? w.argumentsDelta(entry.index, id, json) : "";
          }
          if (delta.type === "thinking_delta") entry.text += str(delta.thinking) ?? "";
          return "";
        }
        case "content_block_stop": {
          const entry = open.get(num(data.index) ?? 0);
          if (!entry) return "";
          open.delete(num(data.index) ?? 0);
          const id = str(obj(output[entry.index]).id) ?? "";
          if (entry.kind === "tool_use") {
            const item = callItem(entry.block, entry.text || "{}");
            output[entry.index] = item;
            return w.closeCall(entry.index, item);
          }
          if (entry.kind === "thinking") {
            const item = reasoningItem(id, entry.text);
            output[entry.index] = item;
            return w.closeItem(entry.index, item);
          }
          const item = messageItem(id, entry.text);
          output[entry.index] = item;
          return w.closePart(entry.index, id, 0, entry.text) + w.closeItem(entry.index, item);
        }
        case "message_delta": {
          stop = obj(data.delta).stop_reason ?? stop;
          for (const [k, v] of Object.entries(obj(data.usage))) if (v !== null) usage[k] = v;
          return "";
        }
        case "message_stop":
          return finish();
        default:
          return ""; // ping; errors are the relay's
      }
    },
    end: finish,
  };
}
