/**
 * Test helper: the real app on a real loopback socket (port 0), in this
 * process, behind the server `deno task start` uses by default (node:http,
 * adapters/node_http_server.ts), or behind `Deno.serve` with
 * `HERALD_TEST_SERVER=deno` (the `HTTP_SERVER=deno` path). Dispose it
 * (`await using`) to drain streams and stop the server.
 */
import { createDenoAssetReader } from "../adapters/deno_assets.ts";
import { serveWithNodeHttp } from "../adapters/node_http_server.ts";
import { LocalBus } from "../lib/bus.ts";
import { loadConfig } from "../lib/config.ts";
import type { Engine } from "../lib/engine.ts";
import type { EventHistory } from "../lib/history.ts";
import { type App, createApp } from "../routes/app.ts";
import {
  createMemoryEngine,
  type HorizonBus,
} from "../engines/memory/engine.ts";

/** A running test server. */
export interface TestServer {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly app: App;
  /** POSTs a message as JSON; returns the response (body already read). */
  publish(
    body: unknown,
    headers?: HeadersInit,
  ): Promise<{ status: number; json: Record<string, unknown> }>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options for {@linkcode startServer}. */
export interface StartOptions {
  /** Environment strings, as for loadConfig. Timers default to off. */
  env?: Record<string, string>;
  /** The bus of the in-memory engine. @default {a new LocalBus} */
  bus?: HorizonBus;
  /** A history in place of the in-memory engine's. */
  history?: EventHistory;
  /** The engine, in place of `bus` and `history`. */
  engine?: Engine;
}

/** Starts herald on 127.0.0.1 with a free port. */
export function startServer(options: StartOptions = {}): Promise<TestServer> {
  const config = loadConfig({
    UPDATE_INTERVAL_MS: "0",
    HEARTBEAT_MS: "0",
    ...options.env,
  });
  const memory = createMemoryEngine({
    bus: options.bus ?? new LocalBus(),
    historySize: config.historySize,
    historyMaxBytes: config.historyMaxBytes,
  });
  const engine = options.engine ??
    (options.history === undefined
      ? memory
      : { ...memory, history: options.history });
  const app = createApp(config, {
    engine,
    readAsset: createDenoAssetReader(new URL("../static/", import.meta.url)),
  });
  const controller = new AbortController();
  const serve = Deno.env.get("HERALD_TEST_SERVER") === "deno"
    ? Deno.serve
    : serveOnNode;
  return new Promise((resolve) => {
    const server = serve({
      port: 0,
      hostname: "127.0.0.1",
      signal: controller.signal,
      onListen({ port }: { port: number }) {
        const url = `http://127.0.0.1:${port}`;
        resolve({
          url,
          app,
          async publish(body, headers = {}) {
            const response = await fetch(`${url}/message`, {
              method: "POST",
              headers: { "content-type": "application/json", ...headers },
              body: typeof body === "string" ? body : JSON.stringify(body),
            });
            return { status: response.status, json: await response.json() };
          },
          async [Symbol.asyncDispose]() {
            await app.close();
            controller.abort();
            await server.finished;
          },
        });
      },
    }, app.fetch);
  });
}

/** `serveWithNodeHttp` in the shape of `Deno.serve(options, handler)`. */
function serveOnNode(
  options: {
    port: number;
    hostname: string;
    signal: AbortSignal;
    onListen(address: { port: number }): void;
  },
  handler: (request: Request) => Response | Promise<Response>,
): { finished: Promise<void> } {
  return serveWithNodeHttp(handler, options);
}

/** Resolves when `check()` returns true, polling every 10 ms; rejects after `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
