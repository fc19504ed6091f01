import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll } from "vitest";
import { type RunningProxy, startProxy } from "../../src/server/serve.js";
import { type FakeUpstream, startFakeUpstream } from "./fake-upstream.js";
import { configFrom } from "./policy.js";

export interface Started {
  proxy: RunningProxy;
  dataDir: string;
}

/**
 * A test file's fake provider on loopback and the proxies its tests start
 * against it (in-process, port 0, a fresh data directory each): every proxy
 * is closed after its test and the fake's record and behaviours reset.
 * A test may close its proxy itself first (to read the journal): closing is
 * idempotent.
 */
export function proxyHarness(
  yaml: (fake: FakeUpstream, extra: string) => string,
  options: { replyTokens?: number; prefix?: string } = {},
) {
  const replyTokens = options.replyTokens ?? 40;
  let fake: FakeUpstream | undefined;
  const running: Started[] = [];
  beforeAll(async () => {
    fake = await startFakeUpstream({ replyTokens });
  });
  afterEach(async () => {
    for (const h of running.splice(0)) await h.proxy.close();
    if (!fake) return;
    fake.requests.length = 0;
    fake.next.length = 0;
    fake.behaviourFor = undefined;
    fake.options.replyTokens = replyTokens;
  });
  afterAll(async () => {
    await fake?.close();
  });
  return {
    get fake(): FakeUpstream {
      if (!fake) throw new Error("the fake provider starts in beforeAll");
      return fake;
    },
    /** The YAML the proxies of this file run on (with `extra` appended). */
    yaml(extra = ""): string {
      return yaml(this.fake, extra);
    },
    async start(
      extra = "",
      opts: { dataDir?: string; warn?: (message: string) => void } = {},
    ): Promise<Started> {
      const dataDir =
        opts.dataDir ?? (await mkdtemp(join(tmpdir(), `tokenpak-${options.prefix ?? "test"}-`)));
      const proxy = await startProxy({
        config: configFrom(this.yaml(extra)),
        dataDir,
        port: 0,
        warn: opts.warn ?? (() => {}),
      });
      const started = { proxy, dataDir };
      running.push(started);
      return started;
    },
  };
}
