/**
 * Where a text stops being JSON, for error messages that must not quote it:
 * JSON.parse's own message echoes the document's first bytes (`--source
 * file:///etc/passwd` printed `"root:x:0:0"... is not valid JSON`), and gives
 * a position only for some errors. A scanner with an explicit stack, so a
 * deeply nested document cannot overflow the call stack.
 */

const WHITESPACE = new Set([" ", "\t", "\n", "\r"]);
const ESCAPES = new Set(['"', "\\", "/", "b", "f", "n", "r", "t"]);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;

/** The UTF-8 byte offset of the first character of `text` that cannot continue a JSON document; undefined when it is one. */
export function jsonErrorOffset(text: string): number | undefined {
  const at = firstBadIndex(text);
  return at === undefined ? undefined : Buffer.byteLength(text.slice(0, at), "utf8");
}

function firstBadIndex(text: string): number | undefined {
  let i = 0;
  const n = text.length;
  const stack: ("[" | "{")[] = [];
  const skip = () => {
    while (i < n && WHITESPACE.has(text[i] as string)) i++;
  };
  /** Reads a string at i; false (i at the fault) when there is none. */
  const string = (): boolean => {
    if (text[i] !== '"') return false;
    i++;
    while (i < n) {
      const c = text[i] as string;
      if (c === '"') {
        i++;
        return true;
      }
      if (c === "\\") {
        const e = text[i + 1];
        if (e === "u") {
          if (!HEX4.test(text.slice(i + 2, i + 6))) return false;
          i += 6;
        } else if (e !== undefined && ESCAPES.has(e)) i += 2;
        else return false;
      } else if (c < " ") return false;
      else i++;
    }
    return false;
  };
  /** After `{` or `,` in an object: a key and its colon. */
  const key = (): boolean => {
    skip();
    if (!string()) return false;
    skip();
    if (text[i] !== ":") return false;
    i++;
    return true;
  };
  /** One whole value ("done"), the opening of a non-empty container ("open", pushed), or a fault. */
  const value = (): "done" | "open" | false => {
    skip();
    const c = text[i];
    if (c === "{" || c === "[") {
      i++;
      skip();
      if (text[i] === (c === "{" ? "}" : "]")) {
        i++;
        return "done";
      }
      stack.push(c);
      return "open";
    }
    if (c === '"') return string() && "done";
    for (const literal of ["true", "false", "null"]) {
      if (text.startsWith(literal, i)) {
        i += literal.length;
        return "done";
      }
    }
    NUMBER.lastIndex = i;
    if (!NUMBER.test(text)) return false;
    i = NUMBER.lastIndex;
    return "done";
  };

  let read = value();
  for (;;) {
    if (read === false) return i;
    const top = stack.at(-1);
    if (read === "open") {
      // The first member of the container just opened.
      if (top === "{" && !key()) return i;
      read = value();
      continue;
    }
    skip();
    if (top === undefined) return i === n ? undefined : i;
    if (text[i] === ",") {
      i++;
      if (top === "{" && !key()) return i;
      read = value();
    } else if (text[i] === (top === "{" ? "}" : "]")) {
      i++;
      stack.pop();
    } else return i;
  }
}
