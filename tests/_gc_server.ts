/**
 * Test helper: herald's app in a process of its own, with a test-only
 * `GET /__gc` that runs a full garbage collection and answers
 * `Deno.memoryUsage()` in MiB. Used to tell a leak (live heap that grows)
 * from allocator noise (RSS that does not shrink).
 *
 * Run as a program (what {@linkcode startGcServer} does), it serves the same
 * `createApp` as main.ts, on a `LocalBus`, on PORT; it needs
 * `--v8-flags=--expose-gc`.
 */
import { createDenoAssetReader } from "../adapters/deno_assets.ts";
import { LocalBus } from "../lib/bus.ts";
import { loadConfig } from "../lib/config.ts";
import { createApp } from "../routes/app.ts";
import { createMemoryEngine } from "../engines/memory/engine.ts";
import { freePort } from "./_process.ts";
import { eventually } from "./_server.ts";

/** `Deno.memoryUsage()` after a full GC, in MiB. */
export interface GcMemory {
  rss: number;
  heapUsed: number;
  external: number;
}

/** A running GC server; dispose to kill it. */
export interface GcServer extends AsyncDisposable {
  readonly url: string;
  readonly child: Deno.ChildProcess;
}

/** Starts this file as a process on a free port, with `env` added. */
export async function startGcServer(
  env: Record<string, string> = {},
): Promise<GcServer> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--v8-flags=--expose-gc",
      "--allow-net=127.0.0.1",
      "--allow-env",
      "--allow-read=.",
      new URL(import.meta.url).pathname,
    ],
    cwd: new URL("..", import.meta.url).pathname,
    env: {
      HEARTBEAT_MS: "200",
      UPDATE_INTERVAL_MS: "0",
      ...env,
      PORT: String(port),
    },
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  const dispose = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await child.status;
  };
  try {
    await eventually(
      async () => {
        try {
          await (await fetch(`${url}/stats`)).body?.cancel();
          return true;
        } catch {
          return false;
        }
      },
      15_000,
      "the app process to listen",
    );
  } catch (error) {
    await dispose();
    throw error;
  }
  return { url, child, [Symbol.asyncDispose]: dispose };
}

/**
 * The process's memory after a full GC, once it is steady: closed
 * connections finish tearing down a little after their streams are gone.
 */
export async function gcMemory(url: string): Promise<GcMemory> {
  let last: GcMemory = await (await fetch(`${url}/__gc`)).json();
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now: GcMemory = await (await fetch(`${url}/__gc`)).json();
    const steady = Math.abs(now.heapUsed - last.heapUsed) < 0.05;
    last = now;
    if (steady) break;
  }
  return last;
}

if (import.meta.main) {
  const config = loadConfig(Deno.env.toObject());
  const app = createApp(config, {
    engine: createMemoryEngine({
      bus: new LocalBus(),
      historySize: config.historySize,
      historyMaxBytes: config.historyMaxBytes,
    }),
    readAsset: createDenoAssetReader(new URL("../static/", import.meta.url)),
  });
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("Cannot start: run with --expose-gc");

  Deno.serve({
    port: Number(Deno.env.get("PORT")),
    hostname: "127.0.0.1",
    onListen() {},
  }, (request) => {
    if (new URL(request.url).pathname !== "/__gc") return app.fetch(request);
    gc();
    gc();
    const usage = Deno.memoryUsage();
    const mib = (bytes: number) => bytes / 1024 / 1024;
    return Response.json({
      rss: mib(usage.rss),
      heapUsed: mib(usage.heapUsed),
      external: mib(usage.external),
    });
  });
}
