// A provider's admin (billing) API on loopback, speaking the real wire formats:
// OpenAI's GET /v1/organization/costs and /v1/organization/usage/completions,
// Anthropic's GET /v1/organizations/cost_report and /v1/organizations/usage_report/messages
// — real field names, daily buckets, cursor pagination (has_more / next_page),
// and the filters each API has (OpenAI project_ids[] and api_key_ids[]; Anthropic
// workspace_ids[] and api_key_ids[] on the usage report, grouping by workspace_id
// on the cost report, which takes no workspace filter).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** What one project / workspace spent on one model on one UTC day. Money in µ¢ (exact). */
export interface Spend {
  day: string;
  model: string;
  /** OpenAI project; Anthropic workspace (null: the default workspace). */
  owner: string | null;
  apiKey?: string;
  inputMicros: number;
  outputMicros: number;
  inputTokens: number;
  outputTokens: number;
  requests?: number;
}

/** Anthropic only: a cost that is not tokens (web search): model and token_type null. */
export interface OtherCost {
  day: string;
  owner: string | null;
  micros: number;
}

export type AdminBehaviour =
  | { kind: "normal" }
  | { kind: "status"; status: number; body?: unknown }
  | { kind: "text"; text: string; contentType: string }
  | { kind: "hang" };

export interface SeenAdminRequest {
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
}

export interface FakeAdmin {
  /** http://127.0.0.1:PORT — the OpenAI base_url is `${url}/v1`, the Anthropic one `url`. */
  url: string;
  spend: Spend[];
  other: OtherCost[];
  requests: SeenAdminRequest[];
  /** Behaviours for the next requests, consumed in order (then normal). */
  next: AdminBehaviour[];
  close(): Promise<void>;
}

const DAY_MS = 86_400_000;
/** A cost report result's detail fields when not grouped by description. */
const UNDESCRIBED = {
  description: null,
  cost_type: null,
  model: null,
  token_type: null,
  service_tier: null,
  context_window: null,
} as const;

/** µ¢ as OpenAI's `amount.value`: a JSON number of dollars. */
const dollars = (micros: number) => micros / 100_000_000;
/** µ¢ as Anthropic's `amount`: a decimal string of cents. */
function centsText(micros: number): string {
  const sign = micros < 0 ? "-" : "";
  const abs = Math.abs(micros);
  const fraction = String(abs % 1_000_000)
    .padStart(6, "0")
    .replace(/0+$/, "");
  return `${sign}${Math.floor(abs / 1_000_000)}${fraction ? `.${fraction}` : ""}`;
}

function list(q: URLSearchParams, name: string): string[] | undefined {
  const values = [...q.getAll(`${name}[]`), ...q.getAll(name)];
  return values.length > 0 ? values : undefined;
}

/** Offsets as opaque cursors, as the real APIs hand out ("page_AAAAAGdG…"). */
const cursor = (offset: number) => `page_${Buffer.from(`offset:${offset}`).toString("base64")}`;
function offsetOf(page: string | null): number {
  if (!page) return 0;
  const m = /^offset:(\d+)$/.exec(Buffer.from(page.replace(/^page_/, ""), "base64").toString());
  if (!m) throw new Error(`bad page cursor ${page}`);
  return Number(m[1]);
}

function paginate<T>(buckets: T[], q: URLSearchParams, pageSize: number) {
  const offset = offsetOf(q.get("page"));
  const size = Math.min(Number(q.get("limit") ?? 7), pageSize);
  const data = buckets.slice(offset, offset + size);
  const more = offset + size < buckets.length;
  return { data, has_more: more, next_page: more ? cursor(offset + size) : null };
}

function daysBetween(startMs: number, endMs: number): number[] {
  const out: number[] = [];
  for (let t = Math.floor(startMs / DAY_MS) * DAY_MS; t < endMs; t += DAY_MS) out.push(t);
  return out;
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const stamp = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");

export interface AdminOptions {
  spend?: Spend[];
  other?: OtherCost[];
  adminKey: string;
  /** Buckets per page at most, whatever the client's limit asks (so a few days make several pages). */
  pageSize?: number;
}

/** The admin routes' state and handler, to serve alone (startFakeAdmin) or beside a fake upstream. */
export interface AdminRoutes extends Omit<FakeAdmin, "url" | "close"> {
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  closeHanging(): void;
}

export function createFakeAdmin(options: AdminOptions): AdminRoutes {
  const pageSize = options.pageSize ?? 1;
  const fake: Omit<FakeAdmin, "url" | "close"> = {
    spend: options.spend ?? [],
    other: options.other ?? [],
    requests: [],
    next: [],
  };
  const hanging = new Set<ServerResponse>();

  const json = (res: ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));

  function openai(path: string, q: URLSearchParams, res: ServerResponse) {
    const start = Number(q.get("start_time")) * 1000;
    const end = q.has("end_time") ? Number(q.get("end_time")) * 1000 : Date.now();
    if (!Number.isFinite(start) || q.get("bucket_width") !== "1d") {
      return json(res, 400, {
        error: { message: "start_time and bucket_width=1d are required", type: "invalid_request_error" },
      });
    }
    const projects = list(q, "project_ids");
    const keys = list(q, "api_key_ids");
    const groupBy = list(q, "group_by") ?? [];
    const mine = (s: Spend, d: string) =>
      s.day === d &&
      (!projects || projects.includes(s.owner ?? "")) &&
      (!keys || keys.includes(s.apiKey ?? ""));
    const costs = path === "/v1/organization/costs";
    const buckets = daysBetween(start, end).map((t) => {
      const rows = fake.spend.filter((s) => mine(s, day(t)));
      const groups = new Map<string, Record<string, unknown>>();
      const add = (
        key: string,
        base: Record<string, unknown>,
        fill: (r: Record<string, unknown>) => void,
      ) => {
        let r = groups.get(key);
        if (!r) {
          r = base;
          groups.set(key, r);
        }
        fill(r);
      };
      for (const s of rows) {
        const project = groupBy.includes("project_id") ? s.owner : null;
        if (costs) {
          for (const [kind, micros] of [
            ["input", s.inputMicros],
            ["output", s.outputMicros],
          ] as const) {
            const item = groupBy.includes("line_item") ? `${s.model}, ${kind}` : null;
            add(
              JSON.stringify([item, project]),
              {
                object: "organization.costs.result",
                amount: { value: 0, currency: "usd" },
                line_item: item,
                project_id: project,
                micros: 0,
              },
              (r) => {
                r.micros = (r.micros as number) + micros;
              },
            );
          }
        } else {
          const model = groupBy.includes("model") ? s.model : null;
          add(
            JSON.stringify([model, project]),
            {
              object: "organization.usage.completions.result",
              input_tokens: 0,
              output_tokens: 0,
              input_cached_tokens: 0,
              input_audio_tokens: 0,
              output_audio_tokens: 0,
              num_model_requests: 0,
              project_id: project,
              user_id: null,
              api_key_id: null,
              model,
              batch: null,
              service_tier: null,
            },
            (r) => {
              r.input_tokens = (r.input_tokens as number) + s.inputTokens;
              r.output_tokens = (r.output_tokens as number) + s.outputTokens;
              r.num_model_requests = (r.num_model_requests as number) + (s.requests ?? 1);
            },
          );
        }
      }
      const results = [...groups.values()].map(({ micros, ...r }) =>
        costs ? { ...r, amount: { value: dollars(micros as number), currency: "usd" } } : r,
      );
      return { object: "bucket", start_time: t / 1000, end_time: t / 1000 + 86_400, results };
    });
    json(res, 200, { object: "page", ...paginate(buckets, q, pageSize) });
  }

  function anthropic(path: string, q: URLSearchParams, res: ServerResponse) {
    const start = Date.parse(q.get("starting_at") ?? "");
    const end = q.has("ending_at") ? Date.parse(q.get("ending_at") ?? "") : Date.now();
    if (Number.isNaN(start)) {
      return json(res, 400, {
        type: "error",
        error: { type: "invalid_request_error", message: "starting_at: Field required" },
      });
    }
    const groupBy = list(q, "group_by") ?? [];
    const costs = path === "/v1/organizations/cost_report";
    if (costs && (list(q, "workspace_ids") || list(q, "api_key_ids"))) {
      return json(res, 400, {
        type: "error",
        error: { type: "invalid_request_error", message: "unknown query parameter" },
      });
    }
    const workspaces = list(q, "workspace_ids");
    const keys = list(q, "api_key_ids");
    // Ids only: the default workspace has none, so "default" (or anything else) is refused.
    const badWorkspace = workspaces?.find((id) => !/^wrkspc_[A-Za-z0-9_]+$/.test(id));
    if (badWorkspace !== undefined) {
      return json(res, 400, {
        type: "error",
        error: {
          type: "invalid_request_error",
          message: `workspace_ids: invalid workspace id '${badWorkspace}'`,
        },
      });
    }
    const buckets = daysBetween(start, end).map((t) => {
      const d = day(t);
      const rows = fake.spend.filter(
        (s) =>
          s.day === d &&
          (!workspaces || workspaces.includes(s.owner ?? "")) &&
          (!keys || keys.includes(s.apiKey ?? "")),
      );
      const ws = (s: { owner: string | null }) => (groupBy.includes("workspace_id") ? s.owner : null);
      const described = groupBy.includes("description");
      const groups = new Map<string, Record<string, unknown>>();
      const bump = (key: string, base: Record<string, unknown>, field: string, n: number) => {
        const r = groups.get(key) ?? base;
        groups.set(key, r);
        r[field] = (r[field] as number) + n;
      };
      for (const s of rows) {
        if (costs) {
          for (const [type, micros] of [
            ["uncached_input_tokens", s.inputMicros],
            ["output_tokens", s.outputMicros],
          ] as const) {
            const detail = described
              ? {
                  description: `${s.model} ${type}`,
                  cost_type: "tokens",
                  model: s.model,
                  token_type: type,
                  service_tier: "standard",
                  context_window: "0-200k",
                }
              : UNDESCRIBED;
            bump(
              JSON.stringify([detail.description, ws(s)]),
              { currency: "USD", micros: 0, workspace_id: ws(s), ...detail },
              "micros",
              micros,
            );
          }
        } else {
          const model = groupBy.includes("model") ? s.model : null;
          const key = JSON.stringify([model, ws(s)]);
          const base = {
            uncached_input_tokens: 0,
            cache_creation: { ephemeral_1h_input_tokens: 0, ephemeral_5m_input_tokens: 0 },
            cache_read_input_tokens: 0,
            output_tokens: 0,
            server_tool_use: { web_search_requests: 0 },
            api_key_id: null,
            workspace_id: ws(s),
            model,
            service_tier: null,
            context_window: null,
          };
          bump(key, base, "uncached_input_tokens", s.inputTokens);
          bump(key, base, "output_tokens", s.outputTokens);
        }
      }
      if (costs) {
        for (const o of fake.other.filter((x) => x.day === d)) {
          const detail = described
            ? { ...UNDESCRIBED, description: "Web Search", cost_type: "web_search" }
            : UNDESCRIBED;
          bump(
            JSON.stringify(["web", ws(o), detail.description]),
            { currency: "USD", micros: 0, workspace_id: ws(o), ...detail },
            "micros",
            o.micros,
          );
        }
      }
      const results = [...groups.values()].map(({ micros, ...r }) =>
        costs ? { ...r, amount: centsText(micros as number) } : r,
      );
      return { starting_at: stamp(t), ending_at: stamp(t + DAY_MS), results };
    });
    json(res, 200, paginate(buckets, q, pageSize));
  }

  /** Answers the admin routes; false for any other path (so another fake can serve it). */
  function handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? "/", "http://fake");
    const isOpenAI = url.pathname.startsWith("/v1/organization/");
    if (!isOpenAI && !url.pathname.startsWith("/v1/organizations/")) return false;
    fake.requests.push({ path: url.pathname, query: url.searchParams, headers: req.headers });
    const behaviour = fake.next.shift() ?? { kind: "normal" };
    if (behaviour.kind === "hang") {
      hanging.add(res);
      return true;
    }
    if (behaviour.kind === "status") {
      json(res, behaviour.status, behaviour.body ?? {});
      return true;
    }
    if (behaviour.kind === "text") {
      res.writeHead(200, { "content-type": behaviour.contentType }).end(behaviour.text);
      return true;
    }
    if (isOpenAI) {
      if (req.headers.authorization !== `Bearer ${options.adminKey}`) {
        json(res, 401, {
          error: {
            message:
              "Incorrect API key provided: sk-proj-****. You can find your API key at https://platform.openai.com/account/api-keys.",
            type: "invalid_request_error",
            code: "invalid_api_key",
            param: null,
          },
        });
      } else if (
        url.pathname === "/v1/organization/costs" ||
        url.pathname === "/v1/organization/usage/completions"
      ) {
        openai(url.pathname, url.searchParams, res);
      } else json(res, 404, { error: { message: `no route ${url.pathname}` } });
      return true;
    }
    if (req.headers["anthropic-version"] !== "2023-06-01") {
      json(res, 400, {
        type: "error",
        error: { type: "invalid_request_error", message: "anthropic-version header is required" },
      });
    } else if (req.headers["x-api-key"] !== options.adminKey) {
      json(res, 401, {
        type: "error",
        error: { type: "authentication_error", message: "invalid x-api-key" },
      });
    } else if (
      url.pathname === "/v1/organizations/cost_report" ||
      url.pathname === "/v1/organizations/usage_report/messages"
    ) {
      anthropic(url.pathname, url.searchParams, res);
    } else
      json(res, 404, {
        type: "error",
        error: { type: "not_found_error", message: `no route ${url.pathname}` },
      });
    return true;
  }

  return Object.assign(fake, {
    handle,
    closeHanging: () => {
      for (const res of hanging) res.destroy();
      hanging.clear();
    },
  });
}

/** The admin API alone on a loopback port. */
export async function startFakeAdmin(options: AdminOptions): Promise<FakeAdmin> {
  const admin = createFakeAdmin(options);
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (!admin.handle(req, res)) res.writeHead(404, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(admin, {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      admin.closeHanging();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}
