import { isObject, type Json, obj, str } from "./json.js";
import type { Route } from "./wire.js";

/*
 * Files a request makes the provider read that tokenpak cannot see: given by
 * id (uploaded to the provider earlier) or by URL (fetched by the provider).
 * The provider bills their whole content as input, while the request carries
 * only a reference of a few tokens — so the estimate cannot price them, and
 * the reservation takes the most input the model can be billed instead (see
 * `storedInput` in src/server/intake.ts). Files sent inline (base64) are seen,
 * and estimated from their size (src/tokenize/estimate.ts).
 */

/** Whether a content part is a file the provider reads from elsewhere, in the route's wire format. */
function unseen(route: Route, part: Json): boolean {
  switch (route) {
    case "responses":
      // `input_file` by `file_id` or `file_url`; inline it carries `file_data`.
      return part.type === "input_file" && str(part.file_data) === undefined;
    case "chat":
      // `{type: "file", file: {file_id}}`; inline it carries `file.file_data`.
      return part.type === "file" && str(obj(part.file).file_data) === undefined;
    case "messages": {
      // A `document` by uploaded file or URL; base64, text and content sources are inline.
      const source = str(obj(part.source).type);
      return part.type === "document" && (source === "file" || source === "url");
    }
    default:
      return false;
  }
}

/** Where a route's input is: the fields read, never `tools` (a tool's JSON schema may say `type: "file"`). */
function inputOf(route: Route, body: Json): unknown[] {
  if (route === "responses") return [body.input, body.instructions];
  if (route === "chat" || route === "messages") return [body.messages, body.system];
  return [];
}

/**
 * How many files the request's input refers to by id or URL, anywhere in it
 * (message content, tool results and function outputs included). Iterative:
 * the body's depth is bounded before this runs, its size by the body limit.
 */
export function unseenFiles(route: Route, body: Json): number {
  let n = 0;
  const stack: unknown[] = inputOf(route, body);
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) stack.push(...value);
    else if (isObject(value)) {
      if (unseen(route, value)) n += 1;
      else for (const child of Object.values(value)) if (typeof child === "object") stack.push(child);
    }
  }
  return n;
}
