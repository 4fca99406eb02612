/**
 * Test helper, run as its own process: herald's app (the same `createApp` as
 * main.ts, on a `LocalBus`) on PORT, plus a test-only `GET /__gc` that runs a
 * full garbage collection and answers `Deno.memoryUsage()` in MiB. Start it
 * with `deno run --v8-flags=--expose-gc`. Used to tell a leak (live heap that
 * grows) from allocator noise (RSS that does not shrink).
 */
import { createDenoAssetReader } from "../adapters/deno_assets.ts";
import { LocalBus } from "../lib/bus.ts";
import { loadConfig } from "../lib/config.ts";
import { createApp } from "../routes/app.ts";

const app = createApp(loadConfig(Deno.env.toObject()), {
  bus: new LocalBus(),
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
