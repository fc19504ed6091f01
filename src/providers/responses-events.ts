import { arr, type Json, obj, str } from "./json.js";
import { formatEvent } from "./sse.js";

/*
 * The Responses API's stream, written event by event: every event named by
 * its `type` (on the `event:` line too) and numbered by `sequence_number`, an
 * output item opened with `response.output_item.added` and closed with
 * `.done`, a message's text in `response.output_text.delta` events, a
 * function call's arguments in `response.function_call_arguments.delta`, and
 * the whole response at the end in `response.completed` (or
 * `response.incomplete`, `response.failed`). Both the Anthropic → Responses
 * stream translation and a JSON answer told as a stream write through this.
 */

export class ResponsesEvents {
  private seq = 0;

  event(type: string, payload: Json): string {
    return formatEvent(JSON.stringify({ type, sequence_number: this.seq++, ...payload }), type);
  }

  /** `response.created` and `response.in_progress`, for a response with no output yet. */
  start(response: Json): string {
    const begun = { ...response, status: "in_progress", output: [], usage: null };
    return (
      this.event("response.created", { response: begun }) +
      this.event("response.in_progress", { response: begun })
    );
  }

  /** A message item and its first output_text part opened. */
  openMessage(index: number, id: string): string {
    const item = { id, type: "message", status: "in_progress", role: "assistant", content: [] };
    return (
      this.event("response.output_item.added", { output_index: index, item }) + this.openPart(index, id, 0)
    );
  }

  openPart(index: number, id: string, part: number): string {
    return this.event("response.content_part.added", {
      item_id: id,
      output_index: index,
      content_index: part,
      part: { type: "output_text", text: "", annotations: [], logprobs: [] },
    });
  }

  textDelta(index: number, id: string, part: number, delta: string): string {
    return this.event("response.output_text.delta", {
      item_id: id,
      output_index: index,
      content_index: part,
      delta,
      logprobs: [],
    });
  }

  closePart(index: number, id: string, part: number, text: string): string {
    const done = { type: "output_text", text, annotations: [], logprobs: [] };
    return (
      this.event("response.output_text.done", {
        item_id: id,
        output_index: index,
        content_index: part,
        text,
        logprobs: [],
      }) +
      this.event("response.content_part.done", {
        item_id: id,
        output_index: index,
        content_index: part,
        part: done,
      })
    );
  }

  /** Opens a function call item (its arguments still to come). */
  openCall(index: number, item: Json): string {
    return this.event("response.output_item.added", {
      output_index: index,
      item: { ...item, arguments: "", status: "in_progress" },
    });
  }

  argumentsDelta(index: number, id: string, delta: string): string {
    return this.event("response.function_call_arguments.delta", { item_id: id, output_index: index, delta });
  }

  /** Closes a function call item whose arguments are complete. */
  closeCall(index: number, item: Json): string {
    return (
      this.event("response.function_call_arguments.done", {
        item_id: item.id,
        output_index: index,
        name: item.name,
        arguments: item.arguments,
      }) + this.closeItem(index, item)
    );
  }

  closeItem(index: number, item: Json): string {
    return this.event("response.output_item.done", { output_index: index, item });
  }

  /** The whole response: `response.completed`, or `response.incomplete` / `response.failed` by its status. */
  finish(response: Json): string {
    const status = str(response.status);
    const type =
      status === "incomplete"
        ? "response.incomplete"
        : status === "failed"
          ? "response.failed"
          : "response.completed";
    return this.event(type, { response });
  }
}

/** A Response object with no output yet: its id, and the fields that echo the request. */
export function responseShell(request: Json, id: string, model: unknown, createdAt: number): Json {
  return {
    id,
    object: "response",
    created_at: createdAt,
    status: "in_progress",
    error: null,
    incomplete_details: null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    model: str(model) ?? str(request.model) ?? "",
    output: [],
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: request.previous_response_id ?? null,
    reasoning: { effort: null, summary: null },
    store: request.store ?? true,
    temperature: request.temperature ?? 1,
    text: request.text ?? { format: { type: "text" } },
    tool_choice: request.tool_choice ?? "auto",
    tools: request.tools ?? [],
    top_p: request.top_p ?? 1,
    truncation: "disabled",
    usage: null,
    user: request.user ?? null,
    metadata: request.metadata ?? {},
  };
}

/** A whole Responses answer told as its stream: what a client that asked for one expects. */
export function responseAsStream(answer: Json, split: (text: string) => string[] = (t) => [t]): string {
  const w = new ResponsesEvents();
  let out = w.start(answer);
  for (const [index, raw] of arr(answer.output).entries()) {
    const item = obj(raw);
    const id = str(item.id) ?? `item_${index}`;
    if (item.type === "message") {
      out += w.event("response.output_item.added", {
        output_index: index,
        item: { ...item, status: "in_progress", content: [] },
      });
      for (const [part, p] of arr(item.content).entries()) {
        const text = str(obj(p).text) ?? "";
        out += w.openPart(index, id, part);
        for (const piece of split(text)) out += w.textDelta(index, id, part, piece);
        out += w.closePart(index, id, part, text);
      }
      out += w.closeItem(index, item);
    } else if (item.type === "function_call") {
      out += w.openCall(index, item);
      for (const piece of split(str(item.arguments) ?? "")) out += w.argumentsDelta(index, id, piece);
      out += w.closeCall(index, item);
    } else {
      out += w.event("response.output_item.added", { output_index: index, item }) + w.closeItem(index, item);
    }
  }
  return out + w.finish(answer);
}
