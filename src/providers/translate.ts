import { arr, isObject, type Json, num, obj, parseJson, str } from "./json.js";
import { formatEvent, type SseEvent } from "./sse.js";

/*
 * Translation between the OpenAI chat-completions and Anthropic messages wire
 * formats, both ways, for requests, JSON answers and SSE streams. System
 * prompts, multi-turn history, tool calls and results, and stop reasons
 * survive the round trip; provider-specific extras that have no counterpart
 * are dropped.
 */

const OPENAI_TO_ANTHROPIC_STOP: Record<string, string> = {
  stop: "end_turn",
  length: "max_tokens",
  tool_calls: "tool_use",
  function_call: "tool_use",
  content_filter: "end_turn",
};
const ANTHROPIC_TO_OPENAI_STOP: Record<string, string> = {
  end_turn: "stop",
  stop_sequence: "stop",
  max_tokens: "length",
  tool_use: "tool_calls",
  pause_turn: "stop",
  refusal: "content_filter",
};

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  return arr(content)
    .map((p) => (isObject(p) && typeof p.text === "string" ? p.text : ""))
    .join("");
}

/** An Anthropic message id for a translated answer: the SDKs and their users expect `msg_…`. */
function messageId(id: unknown): string {
  const text = str(id) ?? "";
  return text.startsWith("msg_") ? text : `msg_${text}`;
}

/** A tool call's JSON arguments as an object (Anthropic's `input`); `{}` when they are not one. */
export function parseArguments(text: unknown): Json {
  const parsed = typeof text === "string" ? parseJson(text) : text;
  return isObject(parsed) ? parsed : {};
}

/** An Anthropic image block for an image URL: a data URL becomes base64 data. */
export function imageBlock(url: string): Json {
  const data = /^data:([^;]+);base64,(.*)$/s.exec(url);
  return data
    ? { type: "image", source: { type: "base64", media_type: data[1], data: data[2] } }
    : { type: "image", source: { type: "url", url } };
}

/** Anthropic messages built turn by turn: consecutive blocks of one role become one message, as its API wants. */
export function anthropicTurns(): { messages: Json[]; push(role: string, blocks: Json[]): void } {
  const messages: Json[] = [];
  return {
    messages,
    push(role, blocks) {
      if (blocks.length === 0) return;
      const last = messages.at(-1);
      if (last && last.role === role) (last.content as Json[]).push(...blocks);
      else messages.push({ role, content: blocks });
    },
  };
}

// ---------- requests ----------

/** OpenAI chat/completions request → Anthropic messages request. */
export function chatToMessagesRequest(body: Json): Json {
  const system: string[] = [];
  const { messages, push } = anthropicTurns();
  for (const raw of arr(body.messages)) {
    const m = obj(raw);
    const role = str(m.role);
    if (role === "system" || role === "developer") {
      system.push(textOf(m.content));
    } else if (role === "tool") {
      push("user", [
        { type: "tool_result", tool_use_id: str(m.tool_call_id) ?? "", content: textOf(m.content) },
      ]);
    } else if (role === "assistant") {
      const blocks: Json[] = [];
      const text = textOf(m.content);
      if (text) blocks.push({ type: "text", text });
      for (const call of arr(m.tool_calls)) {
        const c = obj(call);
        const fn = obj(c.function);
        blocks.push({
          type: "tool_use",
          id: str(c.id) ?? "",
          name: str(fn.name) ?? "",
          input: parseArguments(fn.arguments),
        });
      }
      push("assistant", blocks);
    } else {
      const content = m.content;
      const blocks: Json[] =
        typeof content === "string"
          ? [{ type: "text", text: content }]
          : arr(content).map((p) => {
              const part = obj(p);
              if (part.type === "image_url") return imageBlock(str(obj(part.image_url).url) ?? "");
              return { type: "text", text: str(part.text) ?? "" };
            });
      push("user", blocks);
    }
  }
  const out: Json = { model: body.model, messages };
  if (system.length > 0) out.system = system.join("\n\n");
  const maxTokens = num(body.max_completion_tokens) ?? num(body.max_tokens);
  if (maxTokens !== undefined) out.max_tokens = maxTokens;
  if (body.temperature !== undefined) out.temperature = body.temperature;
  if (body.top_p !== undefined) out.top_p = body.top_p;
  if (body.stop !== undefined) out.stop_sequences = typeof body.stop === "string" ? [body.stop] : body.stop;
  if (body.stream === true) out.stream = true;
  if (typeof body.user === "string") out.metadata = { user_id: body.user };
  if (body.tools !== undefined) {
    out.tools = arr(body.tools).map((t) => {
      const fn = obj(obj(t).function);
      return {
        name: fn.name,
        description: fn.description,
        input_schema: fn.parameters ?? { type: "object" },
      };
    });
  }
  const choice = body.tool_choice;
  if (choice === "auto") out.tool_choice = { type: "auto" };
  else if (choice === "required") out.tool_choice = { type: "any" };
  else if (choice === "none") out.tool_choice = { type: "none" };
  else if (isObject(choice)) out.tool_choice = { type: "tool", name: obj(choice.function).name };
  return out;
}

/** Anthropic messages request → OpenAI chat/completions request. */
export function messagesToChatRequest(body: Json): Json {
  const messages: Json[] = [];
  const system = body.system;
  if (system !== undefined) messages.push({ role: "system", content: textOf(system) });
  for (const raw of arr(body.messages)) {
    const m = obj(raw);
    const role = str(m.role) ?? "user";
    if (typeof m.content === "string") {
      messages.push({ role, content: m.content });
      continue;
    }
    const parts: Json[] = [];
    const toolCalls: Json[] = [];
    for (const b of arr(m.content)) {
      const block = obj(b);
      if (block.type === "text") parts.push({ type: "text", text: str(block.text) ?? "" });
      else if (block.type === "image") {
        const source = obj(block.source);
        const url =
          source.type === "base64"
            ? `data:${str(source.media_type)};base64,${str(source.data)}`
            : str(source.url);
        parts.push({ type: "image_url", image_url: { url } });
      } else if (block.type === "tool_use") {
        toolCalls.push({
          id: block.id,
          type: "function",
          function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) },
        });
      } else if (block.type === "tool_result") {
        messages.push({ role: "tool", tool_call_id: block.tool_use_id, content: textOf(block.content) });
      }
    }
    if (role === "assistant") {
      const text = parts.map((p) => p.text ?? "").join("");
      if (text || toolCalls.length > 0) {
        messages.push({
          role,
          content: text || null,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        });
      }
    } else if (parts.length > 0) {
      const onlyText = parts.every((p) => p.type === "text");
      messages.push({ role, content: onlyText ? parts.map((p) => p.text).join("") : parts });
    }
  }
  const out: Json = { model: body.model, messages };
  if (body.max_tokens !== undefined) out.max_tokens = body.max_tokens;
  if (body.temperature !== undefined) out.temperature = body.temperature;
  if (body.top_p !== undefined) out.top_p = body.top_p;
  if (body.stop_sequences !== undefined) out.stop = body.stop_sequences;
  if (body.stream === true) out.stream = true;
  const user = str(obj(body.metadata).user_id);
  if (user !== undefined) out.user = user;
  if (body.tools !== undefined) {
    out.tools = arr(body.tools).map((t) => {
      const tool = obj(t);
      return {
        type: "function",
        function: { name: tool.name, description: tool.description, parameters: tool.input_schema },
      };
    });
  }
  const choice = obj(body.tool_choice);
  if (choice.type === "auto") out.tool_choice = "auto";
  else if (choice.type === "any") out.tool_choice = "required";
  else if (choice.type === "none") out.tool_choice = "none";
  else if (choice.type === "tool") out.tool_choice = { type: "function", function: { name: choice.name } };
  return out;
}

// ---------- JSON answers ----------

/** Anthropic message → OpenAI chat.completion. */
export function messagesToChatResponse(message: Json): Json {
  let text = "";
  const toolCalls: Json[] = [];
  for (const b of arr(message.content)) {
    const block = obj(b);
    if (block.type === "text") text += str(block.text) ?? "";
    else if (block.type === "tool_use") {
      toolCalls.push({
        id: block.id,
        type: "function",
        function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) },
      });
    }
  }
  const usage = obj(message.usage);
  const cached = num(usage.cache_read_input_tokens) ?? 0;
  const prompt = (num(usage.input_tokens) ?? 0) + cached + (num(usage.cache_creation_input_tokens) ?? 0);
  const completion = num(usage.output_tokens) ?? 0;
  return {
    id: message.id,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: message.model,
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: text || null,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
        finish_reason: ANTHROPIC_TO_OPENAI_STOP[str(message.stop_reason) ?? ""] ?? "stop",
      },
    ],
    usage: {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
      prompt_tokens_details: { cached_tokens: cached },
    },
  };
}

/** OpenAI chat.completion → Anthropic message. */
export function chatToMessagesResponse(completion: Json): Json {
  const choice = obj(arr(completion.choices)[0]);
  const message = obj(choice.message);
  const content: Json[] = [];
  const text = textOf(message.content);
  if (text) content.push({ type: "text", text });
  for (const call of arr(message.tool_calls)) {
    const c = obj(call);
    const fn = obj(c.function);
    content.push({ type: "tool_use", id: c.id, name: fn.name, input: parseArguments(fn.arguments) });
  }
  const usage = obj(completion.usage);
  const cached = num(obj(usage.prompt_tokens_details).cached_tokens) ?? 0;
  return {
    id: messageId(completion.id),
    type: "message",
    role: "assistant",
    model: completion.model,
    content,
    stop_reason: OPENAI_TO_ANTHROPIC_STOP[str(choice.finish_reason) ?? ""] ?? "end_turn",
    stop_sequence: null,
    usage: {
      input_tokens: (num(usage.prompt_tokens) ?? 0) - cached,
      output_tokens: num(usage.completion_tokens) ?? 0,
      cache_read_input_tokens: cached,
      cache_creation_input_tokens: 0,
    },
  };
}

// ---------- streams ----------

/** Turns upstream SSE events into the client's SSE text, one event at a time. */
export interface StreamTranslator {
  event(e: SseEvent): string;
  end(): string;
}

/** Anthropic SSE → OpenAI chat.completion.chunk SSE. */
export function messagesToChatStream(includeUsage: boolean): StreamTranslator {
  let id = "";
  let model = "";
  const created = Math.floor(Date.now() / 1000);
  let toolIndex = -1;
  let blockIsTool = false;
  let usage: Json = {};
  let finish: string | null = null;
  let done = false;
  const chunk = (delta: Json, finishReason: string | null = null) =>
    formatEvent(
      JSON.stringify({
        id,
        object: "chat.completion.chunk",
        created,
        model,
        choices: [{ index: 0, delta, finish_reason: finishReason }],
      }),
    );
  const finishAll = () => {
    if (done) return "";
    done = true;
    let out = chunk({}, finish ?? "stop");
    if (includeUsage) {
      const cached = num(usage.cache_read_input_tokens) ?? 0;
      const prompt = (num(usage.input_tokens) ?? 0) + cached + (num(usage.cache_creation_input_tokens) ?? 0);
      const completion = num(usage.output_tokens) ?? 0;
      out += formatEvent(
        JSON.stringify({
          id,
          object: "chat.completion.chunk",
          created,
          model,
          choices: [],
          usage: {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            prompt_tokens_details: { cached_tokens: cached },
          },
        }),
      );
    }
    return `${out}data: [DONE]\n\n`;
  };
  return {
    event(e) {
      const data = obj(parseJson(e.data));
      switch (data.type) {
        case "message_start": {
          const message = obj(data.message);
          id = str(message.id) ?? "";
          model = str(message.model) ?? "";
          usage = { ...obj(message.usage) };
          return chunk({ role: "assistant", content: "" });
        }
        case "content_block_start": {
          const block = obj(data.content_block);
          blockIsTool = block.type === "tool_use";
          if (!blockIsTool) return "";
          toolIndex++;
          return chunk({
            tool_calls: [
              {
                index: toolIndex,
                id: block.id,
                type: "function",
                function: { name: block.name, arguments: "" },
              },
            ],
          });
        }
        case "content_block_delta": {
          const delta = obj(data.delta);
          if (delta.type === "text_delta") return chunk({ content: str(delta.text) ?? "" });
          if (delta.type === "input_json_delta" && blockIsTool) {
            return chunk({
              tool_calls: [{ index: toolIndex, function: { arguments: str(delta.partial_json) ?? "" } }],
            });
          }
          return "";
        }
        case "message_delta": {
          const stop = str(obj(data.delta).stop_reason);
          if (stop) finish = ANTHROPIC_TO_OPENAI_STOP[stop] ?? "stop";
          usage = { ...usage, ...obj(data.usage) };
          return "";
        }
        case "message_stop":
          return finishAll();
        default:
          return ""; // ping, content_block_stop, errors handled by the caller
      }
    },
    end: finishAll,
  };
}

/** OpenAI chat.completion.chunk SSE → Anthropic SSE. */
export function chatToMessagesStream(): StreamTranslator {
  let started = false;
  let open: "text" | "tool" | null = null;
  let index = -1;
  let stop = "end_turn";
  let usage: Json = {};
  let done = false;
  const ev = (type: string, payload: Json) => formatEvent(JSON.stringify({ type, ...payload }), type);
  const close = () => {
    if (open === null) return "";
    open = null;
    return ev("content_block_stop", { index });
  };
  const start = (data: Json) => {
    if (started) return "";
    started = true;
    return ev("message_start", {
      message: {
        id: messageId(data.id),
        type: "message",
        role: "assistant",
        model: data.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 0, output_tokens: 0 },
      },
    });
  };
  const finishAll = () => {
    if (done || !started) return "";
    done = true;
    const cached = num(obj(usage.prompt_tokens_details).cached_tokens) ?? 0;
    return (
      close() +
      ev("message_delta", {
        delta: { stop_reason: stop, stop_sequence: null },
        usage: {
          input_tokens: (num(usage.prompt_tokens) ?? 0) - cached,
          output_tokens: num(usage.completion_tokens) ?? 0,
          cache_read_input_tokens: cached,
        },
      }) +
      ev("message_stop", {})
    );
  };
  return {
    event(e) {
      if (e.data === "[DONE]") return finishAll();
      const data = obj(parseJson(e.data));
      if (isObject(data.usage)) usage = data.usage;
      let out = start(data);
      for (const c of arr(data.choices)) {
        const choice = obj(c);
        const delta = obj(choice.delta);
        const text = str(delta.content);
        if (text) {
          if (open !== "text") {
            out += close();
            index++;
            open = "text";
            out += ev("content_block_start", { index, content_block: { type: "text", text: "" } });
          }
          out += ev("content_block_delta", { index, delta: { type: "text_delta", text } });
        }
        for (const t of arr(delta.tool_calls)) {
          const call = obj(t);
          const fn = obj(call.function);
          if (call.id !== undefined) {
            out += close();
            index++;
            open = "tool";
            out += ev("content_block_start", {
              index,
              content_block: { type: "tool_use", id: call.id, name: fn.name, input: {} },
            });
          }
          const args = str(fn.arguments);
          if (args)
            out += ev("content_block_delta", {
              index,
              delta: { type: "input_json_delta", partial_json: args },
            });
        }
        const reason = str(choice.finish_reason);
        if (reason) stop = OPENAI_TO_ANTHROPIC_STOP[reason] ?? "end_turn";
      }
      return out;
    },
    end: finishAll,
  };
}
