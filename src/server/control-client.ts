import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { Client } from "undici";
import type { Config } from "../config/types.generated.js";
import { type ErrorCode, TokenpakError } from "../errors.js";
import { KeyRing } from "../keys/ring.js";
import { PriceBook } from "../pricing/book.js";
import { obj, str } from "../providers/json.js";
import {
  type AdminContext,
  type AdminOp,
  type Caller,
  type DaemonStatus,
  OPERATOR_HEADER,
  pathParams,
  runOp,
  statusOp,
} from "./admin.js";
import { controlSocketPath } from "./control-socket.js";
import { closeLedgerServices, openLedgerServices } from "./services.js";

/**
 * Admin operations for a command, whoever owns the ledger: the running
 * daemon over its control socket, or — none running — this process, which
 * then takes the ledger lock and runs the same operation itself.
 */
export interface AdminSession {
  via: "daemon" | "direct";
  /** The daemon's pid (via daemon). */
  pid?: number;
  call<Body, Result>(op: AdminOp<Body, Result>, body: Body): Promise<Result>;
  close(): Promise<void>;
}

/** How long a daemon has to answer one admin call (a large batch of adjustments is written in well under this). */
const CALL_TIMEOUT_MS = 60_000;
const HELLO_TIMEOUT_MS = 5_000;
/** Without a daemon, alerts raised get this long to be delivered before the command exits (the rest resume at the next start). */
const DELIVERY_WAIT_MS = 10_000;

/** Who runs this command, as the journal records it: the OS user. */
export function operatorName(): string {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry (a container's arbitrary uid).
    return typeof process.getuid === "function" ? `uid ${process.getuid()}` : "local";
  }
}

/** An operation's input as a request: its path parameters in the path, the rest as query (GET) or JSON body (POST). */
export function requestOf(op: AdminOp<unknown, unknown>, body: unknown): { path: string; body?: string } {
  const input = { ...(body !== null && typeof body === "object" ? (body as Record<string, unknown>) : {}) };
  let path: string = op.path;
  for (const name of pathParams(op.path)) {
    path = path.replace(`:${name}`, encodeURIComponent(String(input[name] ?? "")));
    delete input[name];
  }
  if (op.method === "POST") return { path, body: JSON.stringify(input) };
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(input)) {
    for (const v of [value].flat()) if (v !== undefined) query.append(name, String(v));
  }
  const text = query.toString();
  return { path: text === "" ? path : `${path}?${text}` };
}

/** An error answer of the admin API as the error it was: its code, message and details. */
export function errorOf(status: number, parsed: unknown): TokenpakError {
  const { type: _type, code, message, param: _param, ...details } = obj(obj(parsed).error);
  return new TokenpakError(
    (str(code) as ErrorCode | undefined) ?? "internal_error",
    str(message) ?? `the daemon answered ${status}`,
    details,
  );
}

class DaemonClient {
  private readonly client: Client;

  constructor(
    readonly socketPath: string,
    private readonly operator: string,
  ) {
    this.client = new Client("http://tokenpak", { socketPath, pipelining: 1 });
  }

  async call<Body, Result>(
    op: AdminOp<Body, Result>,
    body: Body,
    timeoutMs = CALL_TIMEOUT_MS,
  ): Promise<Result> {
    let status: number;
    let text: string;
    const request = requestOf(op as AdminOp<unknown, unknown>, body);
    try {
      const res = await this.client.request({
        method: op.method,
        path: request.path,
        headers: { "content-type": "application/json", [OPERATOR_HEADER]: this.operator },
        ...(request.body !== undefined ? { body: request.body } : {}),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (error) {
      const errno = (error as { code?: string }).code ?? String(error);
      // A change that was sent may have been made; operations are written so that repeating them is safe.
      const maybe =
        op.method !== "GET" ? "; it may or may not have been carried out, and can be repeated" : "";
      throw new TokenpakError(
        "daemon_unavailable",
        `the daemon did not answer ${op.method} ${op.path} on ${this.socketPath} (${errno})${maybe}`,
        { errno },
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new TokenpakError(
        "daemon_unavailable",
        `the daemon answered ${op.path} with something that is not JSON`,
      );
    }
    if (status >= 400) throw errorOf(status, parsed);
    return parsed as Result;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** The daemon behind the data directory's socket, if one answers; undefined if none runs (no socket, or a dead one's). */
async function reachDaemon(
  dataDir: string,
): Promise<{ client: DaemonClient; status: DaemonStatus } | undefined> {
  const path = controlSocketPath(dataDir);
  if (!existsSync(path)) return undefined;
  const client = new DaemonClient(path, operatorName());
  try {
    const status = await client.call(statusOp, undefined, HELLO_TIMEOUT_MS);
    return { client, status };
  } catch (error) {
    await client.close().catch(() => {});
    const errno = error instanceof TokenpakError ? error.details.errno : undefined;
    // Nobody listens: a daemon that died without cleaning up. The ledger lock tells the rest.
    if (errno === "ECONNREFUSED" || errno === "ENOENT") return undefined;
    if (error instanceof TokenpakError && error.code !== "daemon_unavailable") throw error;
    throw new TokenpakError(
      "daemon_unavailable",
      `the daemon's control socket ${path} does not answer (${String(errno ?? (error as Error).message)}); is the proxy stuck? Restart it, or try again`,
      { path },
    );
  }
}

function viaDaemon(found: { client: DaemonClient; status: DaemonStatus }): AdminSession {
  return {
    via: "daemon",
    pid: found.status.pid,
    call: (op, body) => found.client.call(op, body),
    close: () => found.client.close(),
  };
}

/** A session with the running daemon, if one answers on the data directory's socket; else undefined. */
export async function daemonSession(dataDir: string): Promise<AdminSession | undefined> {
  const found = await reachDaemon(dataDir);
  return found ? viaDaemon(found) : undefined;
}

export async function openAdminSession(options: {
  config: Readonly<Config>;
  dataDir: string;
  clock?: () => number;
  warn?: (message: string) => void;
}): Promise<AdminSession> {
  const found = await reachDaemon(options.dataDir);
  if (found) return viaDaemon(found);
  const clock = options.clock ?? Date.now;
  const services = await openLedgerServices({
    config: options.config,
    dataDir: options.dataDir,
    clock,
    warn: options.warn ?? (() => {}),
  });
  let prices: PriceBook | undefined;
  const ctx: AdminContext = {
    ledger: services.ledger,
    alerts: services.alerts,
    dataDir: options.dataDir,
    clock,
    startedAt: clock(),
    config: () => options.config,
    // No requests to serve here: a key change only has to reach the store.
    keys: new KeyRing({
      store: services.keyStore,
      config: () => options.config,
      usage: services.usage,
      clock,
      prepare: () => () => {},
    }),
    prices: () => {
      prices ??= new PriceBook({ config: options.config, dataDir: options.dataDir, warn: options.warn });
      return prices;
    },
  };
  const caller: Caller = { who: operatorName(), via: "direct" };
  return {
    via: "direct",
    call: (op, body) => runOp(op, ctx, body, caller),
    async close() {
      await Promise.race([
        services.alerts.settled(),
        new Promise<void>((resolve) => setTimeout(resolve, DELIVERY_WAIT_MS).unref()),
      ]);
      await closeLedgerServices(services);
    },
  };
}
