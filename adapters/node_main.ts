/**
 * @module herald served through `node:http` instead of `deno serve`: the same
 * app as main.ts (config, bus, history, assets, handler), one isolate, about
 * a sixth of the memory per open stream. `HTTP_SERVER=node deno task start`
 * runs it (`deno run --allow-net --allow-env --allow-read=.
 * adapters/node_main.ts`). Deno-only.
 */
import { createDenoAssetReader } from "./deno_assets.ts";
import { loadConfigOrExit } from "./deno_config.ts";
import { serveWithNodeHttp } from "./node_http_server.ts";
import { BroadcastChannelBus } from "../lib/broadcast_channel_bus.ts";
import type { Bus } from "../lib/bus.ts";
import type { EventHistory } from "../lib/history.ts";
import { consoleLogger } from "../lib/log.ts";
import { createApp } from "../routes/app.ts";

/** How long a drain may take before the process exits anyway (as main.ts). */
const SHUTDOWN_DEADLINE_MS = 3000;

const config = loadConfigOrExit();

async function connectEngine(): Promise<{ bus: Bus; history?: EventHistory }> {
  if (config.redisUrl === null) return { bus: new BroadcastChannelBus() };
  const { connectRedisEngine } = await import("./redis_engine.ts");
  return await connectRedisEngine(config.redisUrl, {
    historySize: config.historySize,
  });
}

const app = createApp(config, {
  ...await connectEngine(),
  readAsset: createDenoAssetReader(new URL("../static/", import.meta.url)),
  logger: consoleLogger,
});

const server = serveWithNodeHttp(app.fetch, {
  port: config.port,
  hostname: config.hostname,
  onListen({ hostname, port }) {
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    // deno-lint-ignore no-console
    console.log(`herald (node:http): Listening on http://${host}:${port}/`);
  },
});

let stopping = false;

/**
 * On the first SIGINT/SIGTERM: end every stream with a short `retry:` (as
 * main.ts), stop accepting, and exit once the connections are closed or the
 * deadline passes. A second signal exits now.
 */
function shutdown(signal: string): void {
  if (stopping) Deno.exit(1);
  stopping = true;
  consoleLogger.log(
    "info",
    "Draining: ending every stream with a short retry",
    { signal },
  );
  Deno.unrefTimer(setTimeout(() => Deno.exit(0), SHUTDOWN_DEADLINE_MS));
  void Promise.all([app.close(), server.shutdown()]).then(() => Deno.exit(0));
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => shutdown(signal));
}
