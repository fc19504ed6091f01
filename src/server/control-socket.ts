import { chmodSync, lstatSync, unlinkSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import { createAdaptorServer } from "@hono/node-server";
import { TokenpakError } from "../errors.js";

export const CONTROL_SOCKET = "tokenpak.sock";
/** sockaddr_un holds 108 bytes on Linux, 104 on macOS, the terminating NUL included. */
const MAX_SOCKET_PATH = 103;
const CLOSE_GRACE_MS = 2000;

export function controlSocketPath(dataDir: string): string {
  return join(dataDir, CONTROL_SOCKET);
}

export interface ControlChannel {
  path: string;
  close(): Promise<void>;
}

/** Removes a socket file left by a daemon that died; refuses to remove anything that is not a socket. */
function removeStale(path: string): void {
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) {
    throw new TokenpakError("io_error", `${path} exists and is not a socket; move it away`, { path });
  }
  unlinkSync(path);
}

/**
 * Serves the admin router on a Unix socket, mode 0600: file permissions
 * are the access control, so no token. Call it holding the ledger lock: no
 * other live daemon can have this data directory, so a socket already there
 * is a crashed daemon's and is replaced.
 */
export async function listenControl(
  app: { fetch(request: Request): Response | Promise<Response> },
  path: string,
): Promise<ControlChannel> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw new TokenpakError(
      "io_error",
      `the socket path ${path} is longer than a Unix socket allows (${MAX_SOCKET_PATH} bytes); use a shorter data directory`,
      { path },
    );
  }
  removeStale(path);
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  // Created with no access for anyone else from the start, not chmod-ed after a window.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    throw new TokenpakError(
      "io_error",
      `cannot listen on ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      {
        path,
      },
    );
  } finally {
    process.umask(umask);
  }
  chmodSync(path, 0o600);
  let closing: Promise<void> | undefined;
  return {
    path,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // An admin call in flight gets a moment to finish; idle keep-alive connections go now.
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
      }).finally(() => {
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      });
      return closing;
    },
  };
}
