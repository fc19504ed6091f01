import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import type { PathSegment, Problem } from "./problem.js";

/** A parsed YAML file that can say where any JSON path sits in it. */
export interface Source {
  file: string;
  data: unknown;
  /** Line and column (1-based) of the value at `path`, or of its nearest existing ancestor. */
  locate(path: readonly PathSegment[], at?: "key" | "value"): { line: number; col: number };
  syntaxErrors: Problem[];
}

export function parseSource(file: string, text: string): Source {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const position = (offset: number) => lineCounter.linePos(offset);

  const syntaxErrors: Problem[] = doc.errors.map((e) => {
    const { line, col } = position(e.pos[0]);
    return {
      severity: "error",
      path: "(yaml)",
      line,
      col,
      message: e.message.split("\n")[0] ?? e.message,
      hint: e.code === "DUPLICATE_KEY" ? "each key may appear once in a mapping" : undefined,
    };
  });

  function locate(path: readonly PathSegment[], at: "key" | "value" = "value") {
    let node: unknown = doc.contents;
    let best: { line: number; col: number } = { line: 1, col: 1 };
    const here = (n: unknown) => {
      const range = (n as Node | null)?.range;
      if (range) best = position(range[0]);
    };
    here(node);
    for (const [i, seg] of path.entries()) {
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        if (last && at === "key") {
          here(pair.key);
          break;
        }
        node = pair.value;
        // `key:` with no value has no node; point at the key instead.
        if (node) here(node);
        else here(pair.key);
      } else if (isSeq(node) && typeof seg === "number") {
        node = node.items[seg];
        here(node);
      } else {
        break;
      }
    }
    return best;
  }

  return {
    file,
    data: doc.errors.length > 0 ? undefined : (doc.toJS({ maxAliasCount: 100 }) ?? {}),
    locate,
    syntaxErrors,
  };
}
