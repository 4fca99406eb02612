/**
 * @module Deno adapter: builds the app of one isolate from the config (engine,
 * static reader, logger) and installs the drain on SIGINT/SIGTERM. Shared by
 * main.ts (`deno serve`) and node_main.ts (`node:http`). Deno-only.
 */
import { createDenoAssetReader } from "./deno_assets.ts";
import { exitWithConfigError } from "./deno_config.ts";
import type { Config } from "../lib/config.ts";
import type { Engine } from "../lib/engine.ts";
import { consoleLogger } from "../lib/log.ts";
import { createMemoryEngine } from "../engines/memory/engine.ts";
import { type App, createApp } from "../routes/app.ts";

/** How long a drain may take before the process exits anyway (Deploy kills at 5 s). */
const SHUTDOWN_DEADLINE_MS = 3000;

/**
 * The engine the config names. Redis and KV are imported only when chosen,
 * so the default start loads neither.
 */
async function connectEngine(config: Config): Promise<Engine> {
  try {
    switch (config.engine) {
      case "memory":
        return createMemoryEngine({
          historySize: config.historySize,
          historyMaxBytes: config.historyMaxBytes,
        });
      case "redis": {
        const { connectRedisEngine } = await import(
          "../engines/redis/engine.ts"
        );
        return await connectRedisEngine(config.redisUrl ?? "", {
          historySize: config.historySize,
          logger: consoleLogger,
        });
      }
      case "kv": {
        const { openKvEngine } = await import("../engines/kv/engine.ts");
        return await openKvEngine({
          path: config.kvPath,
          historySize: config.historySize,
          historyMaxAgeMs: config.historyMaxAgeMs,
          historyMaxBytes: config.historyMaxBytes,
          logger: consoleLogger,
        });
      }
    }
  } catch (error) {
    // Unreachable Redis is a config error like any other: one line, exit 2.
    exitWithConfigError(
      `Cannot use REDIS_URL: ${
        error instanceof Error ? error.message : String(error)
      }`,
    );
  }
}

/**
 * The app for `config`: the engine it names, `static/` on disk, JSON logs.
 * The kv engine caps MAX_MESSAGE_BYTES at its value limit, and says so.
 */
export async function composeApp(config: Config): Promise<App> {
  const engine = await connectEngine(config);
  let settings = config;
  if (engine.kind === "kv") {
    const { KV_MAX_MESSAGE_BYTES } = await import("../engines/kv/engine.ts");
    if (config.maxMessageBytes > KV_MAX_MESSAGE_BYTES) {
      consoleLogger.log(
        "info",
        "The kv engine stores each event as one value of at most 64 KiB: MAX_MESSAGE_BYTES is capped",
        { maxMessageBytes: KV_MAX_MESSAGE_BYTES },
      );
      settings = { ...config, maxMessageBytes: KV_MAX_MESSAGE_BYTES };
    }
  }
  const app = createApp(settings, {
    engine,
    readAsset: createDenoAssetReader(new URL("../static/", import.meta.url)),
    logger: consoleLogger,
  });
  try {
    await app.ready;
  } catch (error) {
    // A key that cannot be imported is a config error, like a short secret.
    // deno-lint-ignore no-console
    console.error(
      `herald: ${error instanceof Error ? error.message : String(error)}`,
    );
    Deno.exit(2);
  }
  return app;
}

/**
 * On the first SIGINT/SIGTERM: end every stream with a last event carrying
 * the drain's `retry:` (4–6 s, long enough for a supervisor to restart the
 * process, see `DRAIN_RETRY_MS`) so browsers reconnect to a live process and
 * replay by id, then run
 * `stop` (e.g. close a server) and exit; the deadline covers readers too slow
 * to take the last bytes. Without `stop`, the process exits once the runtime
 * has nothing left to do (`deno serve` has stopped accepting and ends when
 * its streams are closed). A second signal exits at once.
 *
 * `deno serve` closes its listener on the first signal by itself (its own
 * SIGTERM/SIGINT handler shuts the server down gracefully), so from then on
 * new connections are refused, which a proxy turns into trying its next
 * upstream (or a 502); a request that still reaches the app while it drains
 * gets 503 with `Retry-After` (routes/events.ts).
 */
export function installDrain(app: App, stop?: () => Promise<void>): void {
  let stopping = false;
  const drain = (signal: string) => {
    if (stopping) Deno.exit(1);
    stopping = true;
    consoleLogger.log(
      "info",
      "Draining: ending every stream with a retry hint",
      { signal },
    );
    // Unref'd: when the streams close sooner, the process exits sooner.
    Deno.unrefTimer(setTimeout(() => Deno.exit(0), SHUTDOWN_DEADLINE_MS));
    const closed = app.close();
    if (stop !== undefined) {
      void Promise.all([closed, stop()]).then(() => Deno.exit(0));
    }
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => drain(signal));
  }
}
