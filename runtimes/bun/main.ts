/**
 * @module herald on Bun: the app behind `Bun.serve`, static files embedded.
 * Built into one file by runtimes/build.ts (`deno bundle`) and run with
 * `bun`; `deno task start:bun` does both. The only file that calls Bun.
 *
 * - Bun closes a connection idle for `idleTimeout` seconds (10 by default),
 *   which would end every quiet event stream between two heartbeats: each
 *   event-stream response gets `server.timeout(request, 0)`, so only other
 *   connections keep the idle timeout (`BUN_IDLE_TIMEOUT_S`).
 * - `BUN_WORKERS=N` (N > 1): N workers each serve the port (`reusePort`) and
 *   fan events out to each other over BroadcastChannel, as
 *   `deno serve --parallel` does; the main thread only forwards signals.
 * - SIGINT/SIGTERM drain (runtimes/process_drain.ts).
 */
import process from "node:process";
import { isMainThread, parentPort, Worker } from "node:worker_threads";
import { BroadcastChannelBus } from "../../engines/memory/broadcast_channel_bus.ts";
import { consoleLogger } from "../../lib/log.ts";
import type { App } from "../../routes/app.ts";
import { composeRuntimeApp } from "../compose.ts";
import { installProcessDrain, SHUTDOWN_DEADLINE_MS } from "../process_drain.ts";
import {
  exitWithConfigError,
  runtimeConfigOrExit,
  runtimeEnv,
} from "../runtime_env.ts";
import { bunGlobal, type BunServer } from "./bun_types.ts";
import { type BunOptions, readBunOptions } from "./bun_options.ts";
import { ConfigError } from "../../lib/config.ts";

const env = runtimeEnv();
const config = runtimeConfigOrExit(env);
let options: BunOptions;
try {
  options = readBunOptions(env, config.port);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  exitWithConfigError(error.message);
}
const { idleTimeout, workers } = options;

/** Serves `app` on the configured address; event streams never time out. */
function serve(app: App, reusePort: boolean): BunServer {
  return bunGlobal().serve({
    port: config.port,
    hostname: config.hostname,
    idleTimeout,
    reusePort,
    async fetch(request, server) {
      const response = await app.fetch(request);
      if (
        response.headers.get("content-type")?.startsWith("text/event-stream")
      ) {
        server.timeout(request, 0);
      }
      return response;
    },
  });
}

function listening(server: BunServer, workers: number): void {
  const host = server.hostname.includes(":")
    ? `[${server.hostname}]`
    : server.hostname;
  // deno-lint-ignore no-console
  console.log(
    `herald (Bun ${bunGlobal().version}${
      workers > 1 ? `, ${workers} workers` : ""
    }): Listening on http://${host}:${server.port}/`,
  );
}

if (workers === 1) {
  const app = await composeRuntimeApp(config);
  const server = serve(app, false);
  listening(server, 1);
  installProcessDrain(app, () => server.stop());
} else if (isMainThread) {
  // The main thread holds no hub: it starts the workers and, on a signal,
  // asks each to drain, then exits once all have (or at the deadline).
  const started = Array.from(
    { length: workers },
    () => new Worker(new URL(import.meta.url)),
  );
  let ready = 0;
  let drained = 0;
  let stopping = false;
  for (const worker of started) {
    worker.on("message", (message: string) => {
      if (message === "listening" && ++ready === workers) {
        // deno-lint-ignore no-console
        console.log(
          `herald (Bun ${bunGlobal().version}, ${workers} workers): Listening on http://${config.hostname}:${config.port}/`,
        );
      }
      if (message === "drained" && ++drained === workers) process.exit(0);
    });
    worker.on("error", (error: unknown) => {
      consoleLogger.log("error", "A worker failed", { error: String(error) });
      process.exit(1);
    });
  }
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (stopping) process.exit(1);
      stopping = true;
      consoleLogger.log(
        "info",
        "Draining: ending every stream with a retry hint",
        { signal, workers },
      );
      for (const worker of started) worker.postMessage("drain");
      setTimeout(() => process.exit(0), SHUTDOWN_DEADLINE_MS);
    });
  }
} else {
  const app = await composeRuntimeApp(config, {
    bus: new BroadcastChannelBus(),
  });
  const server = serve(app, true);
  parentPort?.on("message", (message: string) => {
    if (message !== "drain") return;
    void Promise.all([app.close(), server.stop()]).then(() =>
      parentPort?.postMessage("drained")
    );
  });
  parentPort?.postMessage("listening");
}
