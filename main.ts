/**
 * herald's composition root: config, adapters, the handler. Run it with
 * `deno serve [--parallel] main.ts` (what `deno task start` and
 * `deno task start:parallel` do, through adapters/launcher.ts); the default
 * export's `fetch` is the plain `(Request) => Promise<Response>` handler.
 *
 * Deno-only calls live here and in `adapters/`; `lib/` and `routes/` are
 * Web-standard. This module never calls `Deno.serve`: every `deno serve`
 * isolate runs it with `import.meta.main` true (see the README).
 */
import { createDenoAssetReader } from "./adapters/deno_assets.ts";
import { loadConfigOrExit } from "./adapters/deno_config.ts";
import { BroadcastChannelBus } from "./lib/broadcast_channel_bus.ts";
import type { Bus } from "./lib/bus.ts";
import type { EventHistory } from "./lib/history.ts";
import { consoleLogger } from "./lib/log.ts";
import { createApp } from "./routes/app.ts";

/** How long a drain may take before the process exits anyway (Deploy kills at 5 s). */
const SHUTDOWN_DEADLINE_MS = 3000;

const config = loadConfigOrExit();

async function connectEngine(): Promise<{ bus: Bus; history?: EventHistory }> {
  if (config.redisUrl === null) return { bus: new BroadcastChannelBus() };
  const { connectRedisEngine } = await import("./adapters/redis_engine.ts");
  return await connectRedisEngine(config.redisUrl, {
    historySize: config.historySize,
  });
}

const app = createApp(config, {
  ...await connectEngine(),
  readAsset: createDenoAssetReader(new URL("./static/", import.meta.url)),
  logger: consoleLogger,
});

let stopping = false;

/**
 * On the first SIGINT/SIGTERM: end every stream with a short `retry:` so
 * browsers reconnect at once to a live isolate and replay by id. `deno serve`
 * has stopped accepting and exits once the streams are closed; the deadline
 * covers readers too slow to take the last bytes. A second signal exits now.
 */
function shutdown(signal: string): void {
  if (stopping) Deno.exit(1);
  stopping = true;
  consoleLogger.log(
    "info",
    "Draining: ending every stream with a short retry",
    { signal },
  );
  void app.close();
  // Unref'd: when the streams are closed sooner, `deno serve` exits sooner.
  Deno.unrefTimer(setTimeout(() => Deno.exit(0), SHUTDOWN_DEADLINE_MS));
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => shutdown(signal));
}

/** The handler for `deno serve`. */
export default { fetch: app.fetch } satisfies Deno.ServeDefaultExport;
