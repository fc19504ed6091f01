import { readFileSync } from "node:fs";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export const LITELLM_TEXT = readFileSync(
  new URL("../fixtures/pricing/litellm.json", import.meta.url),
  "utf8",
);
export const OPENROUTER_TEXT = readFileSync(
  new URL("../fixtures/pricing/openrouter.json", import.meta.url),
  "utf8",
);

/** What a path answers: a document (200), another status, or no answer at all. */
export type PriceAnswer = { text: string; status?: number } | { hang: true };

export interface PriceServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Answers by path; tests add their own. */
  answers: Map<string, PriceAnswer>;
  /** Paths asked for, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** The LiteLLM fixture with some entries changed (a value of null removes the entry). */
export function litellmWith(changes: Record<string, Record<string, unknown> | null>): string {
  const table = JSON.parse(LITELLM_TEXT) as Record<string, Record<string, unknown>>;
  for (const [key, change] of Object.entries(changes)) {
    if (change === null) delete table[key];
    else table[key] = { ...table[key], ...change };
  }
  return JSON.stringify(table, null, 2);
}

/**
 * A price source on loopback: the LiteLLM table (/litellm.json), the
 * OpenRouter models list (/openrouter.json), an HTTP 500 (/500), an answer
 * that never comes (/hang), and whatever a test adds to `answers`.
 */
export async function startPriceServer(): Promise<PriceServer> {
  const answers = new Map<string, PriceAnswer>([
    ["/litellm.json", { text: LITELLM_TEXT }],
    ["/openrouter.json", { text: OPENROUTER_TEXT }],
    ["/500", { text: '{"error":"internal"}', status: 500 }],
    ["/hang", { hang: true }],
  ]);
  const requests: string[] = [];
  const hanging = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const path = req.url ?? "";
    requests.push(path);
    const answer = answers.get(path) ?? { text: "not found", status: 404 };
    if ("hang" in answer) {
      hanging.add(res);
      return;
    }
    res.writeHead(answer.status ?? 200, { "content-type": "application/json" }).end(answer.text);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    answers,
    requests,
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
