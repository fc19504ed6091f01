import { Agent, request } from "undici";
import { TokenpakError } from "../../errors.js";
import { type DecimalUnit, decimalToMicros } from "../../money/decimal.js";
import { arr, isObject, type Json, obj, str } from "../../providers/json.js";
import { upstreamError } from "../../providers/upstream.js";

export interface PagedGet {
  /** The provider's name in the config, for messages. */
  provider: string;
  /** Base URL including any path prefix ("https://api.openai.com/v1"). */
  baseUrl: string;
  /** Path under the base URL ("/organization/costs"). */
  path: string;
  /** Query without the page cursor; arrays are sent as `name[]=a&name[]=b`. */
  query: Record<string, string | number | readonly string[] | undefined>;
  headers: Record<string, string>;
  timeoutMs: number;
}

/** A runaway cursor (a server that always says has_more) ends here. */
const MAX_PAGES = 1000;

function queryString(query: PagedGet["query"], page: string | undefined): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) params.append(`${name}[]`, v);
    else params.append(name, String(value));
  }
  if (page !== undefined) params.append("page", page);
  return params.toString();
}

/** The provider's own words for a failed call, without echoing anything of ours. */
function providerMessage(text: string): string {
  const parsed = (() => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  })();
  const message = str(obj(obj(parsed).error).message);
  const shown = (message ?? text).replace(/\s+/g, " ").trim();
  return shown.length > 200 ? `${shown.slice(0, 200)}…` : shown;
}

/** One call's answer, read whole. */
interface Answer {
  status: number;
  type: string;
  text: string;
}

/** One page's answer; no answer in time is told as the admin API's, with the page it stalled on. */
async function fetchPage(get: PagedGet, url: string, agent: Agent, what: string, n: number): Promise<Answer> {
  try {
    const res = await request(url, { method: "GET", headers: get.headers, dispatcher: agent });
    const status = res.statusCode;
    const type = String(res.headers["content-type"] ?? "");
    const text = await res.body.text();
    return { status, type, text };
  } catch (error) {
    const mapped = upstreamError(error, get.provider);
    if (mapped instanceof TokenpakError && mapped.code === "upstream_timeout") {
      throw new TokenpakError(
        "upstream_timeout",
        `${get.provider}'s admin API did not answer ${what} (page ${n}) within ${get.timeoutMs} ms`,
        { provider: get.provider },
      );
    }
    throw mapped;
  }
}

/** The answer as a page with a data list, or why it is none: a refused key first, then any other failure. */
function pageOf(get: PagedGet, what: string, n: number, { status, type, text }: Answer): Json {
  if (status === 401 || status === 403) {
    throw new TokenpakError(
      "provider_rejected",
      `${get.provider} refused the admin key (${status} on ${what}: ${providerMessage(text)}); reconcile-spend needs an admin key in providers.${get.provider}.admin_api_key`,
      { provider: get.provider, status },
    );
  }
  if (status < 200 || status > 299) {
    throw new TokenpakError(
      "provider_error",
      `${get.provider}'s admin API answered ${status} to ${what} (page ${n}): ${providerMessage(text)}`,
      { provider: get.provider, status },
    );
  }
  let page: unknown;
  try {
    page = JSON.parse(text);
  } catch {
    throw new TokenpakError(
      "provider_error",
      `page ${n} of ${what} from ${get.provider} is not JSON (${type || "no content type"}): ${JSON.stringify(text.slice(0, 60))}`,
      { provider: get.provider },
    );
  }
  if (!isObject(page) || !Array.isArray(page.data)) {
    throw new TokenpakError("provider_error", `page ${n} of ${what} from ${get.provider} has no data list`, {
      provider: get.provider,
    });
  }
  return page;
}

/** The next page's cursor, or undefined after the last; a cursor that is missing or comes round again is broken. */
function nextCursor(
  get: PagedGet,
  what: string,
  n: number,
  page: Json,
  seen: Set<string>,
): string | undefined {
  if (page.has_more !== true) return undefined;
  const next = str(page.next_page);
  if (!next || seen.has(next)) {
    throw new TokenpakError(
      "provider_error",
      `page ${n} of ${what} from ${get.provider} says has_more but gives ${next ? "a next_page already seen" : "no next_page"}`,
      { provider: get.provider },
    );
  }
  seen.add(next);
  return next;
}

/**
 * Every page of a paginated admin endpoint (`data`, `has_more`,
 * `next_page`): fetched in order, each handed to `onPage`. Any failure
 * throws before the caller has used a partial result: a refused key
 * (401/403) is `provider_rejected`, anything else the provider does wrong
 * `provider_error`, no answer in time `upstream_timeout`.
 */
export async function getAllPages(
  get: PagedGet,
  onPage: (page: Json, n: number, what: string) => void,
): Promise<number> {
  const agent = new Agent({ headersTimeout: get.timeoutMs, bodyTimeout: get.timeoutMs });
  const base = get.baseUrl.replace(/\/$/, "");
  const what = `GET ${new URL(base + get.path).pathname}`;
  let cursor: string | undefined;
  const seen = new Set<string>();
  try {
    for (let n = 1; n <= MAX_PAGES; n++) {
      const url = `${base}${get.path}?${queryString(get.query, cursor)}`;
      const page = pageOf(get, what, n, await fetchPage(get, url, agent, what, n));
      onPage(page, n, what);
      cursor = nextCursor(get, what, n, page, seen);
      if (cursor === undefined) return n;
    }
    throw new TokenpakError(
      "provider_error",
      `${what} from ${get.provider} goes on past ${MAX_PAGES} pages`,
      {
        provider: get.provider,
      },
    );
  } finally {
    await agent.close();
  }
}

/** How a report's daily buckets are read: the bucket's UTC day, the period's days, which results are ours. */
export interface Buckets {
  day(bucket: Json): string;
  days: ReadonlySet<string>;
  wanted(result: Json): boolean;
}

/** Where a result came from, for a message about it: "the bucket of 2026-03-22 on page 2 of GET /v1/…". */
export interface ResultAt {
  day: string;
  where: string;
}

/**
 * Every wanted result of every daily bucket in the period, over all the
 * report's pages; returns the days the report had a bucket for. A day without
 * a bucket is a day the provider said nothing about, not a day it billed
 * nothing for; a bucket without a results list is a broken answer.
 */
export async function forEachResult(
  get: PagedGet,
  buckets: Buckets,
  onResult: (at: ResultAt, result: Json) => void,
): Promise<Set<string>> {
  const covered = new Set<string>();
  await getAllPages(get, (page, n, what) => {
    for (const bucket of arr(page.data).map(obj)) {
      const day = buckets.day(bucket);
      if (!buckets.days.has(day)) continue;
      const where = `the bucket of ${day} on page ${n} of ${what}`;
      if (!Array.isArray(bucket.results)) {
        throw new TokenpakError(
          "provider_error",
          `${get.provider}: ${where} has no results list; nothing was compared or written`,
          { provider: get.provider },
        );
      }
      covered.add(day);
      for (const result of bucket.results.map(obj))
        if (buckets.wanted(result)) onResult({ day, where }, result);
    }
  });
  return covered;
}

/** A provider's decimal amount as µ¢; an amount that is not one is the provider's error, not ours. */
export function billedAmount(
  provider: string,
  at: ResultAt,
  field: string,
  value: string | number,
  unit: DecimalUnit,
): number {
  try {
    return decimalToMicros(value, unit);
  } catch {
    throw new TokenpakError(
      "provider_error",
      `${provider}: ${field} ${JSON.stringify(value)} in ${at.where} is not a decimal amount (or is out of range); nothing was compared or written`,
      { provider },
    );
  }
}

/** Money in USD only: a bill in another currency cannot be compared with a ledger in dollars. */
export function requireUsd(provider: string, currency: string): void {
  if (currency.toUpperCase() !== "USD") {
    throw new TokenpakError(
      "provider_error",
      `${provider} reports costs in ${currency}; only USD is supported`,
      {
        provider,
      },
    );
  }
}
