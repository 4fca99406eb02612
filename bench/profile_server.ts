/**
 * @module A server for memory measurements: herald's own handler (the
 * default export of main.ts, the same one `deno serve` runs) or the minimal
 * broadcaster, behind `Deno.serve` in one isolate, plus two endpoints of its
 * own: `GET /__bench/memory` (`Deno.memoryUsage()` after a full GC) and
 * `POST /__bench/heap?file=<path>` (a V8 heap snapshot via `node:v8`).
 * Used by `heap_profile.ts`; not a way to run herald.
 *
 * Run: `PORT=8193 deno run -A --v8-flags=--expose-gc bench/profile_server.ts [herald|minimal]`
 */
import v8 from "node:v8";

type Handler = (request: Request) => Response | Promise<Response>;

async function loadHandler(which: string): Promise<Handler> {
  if (which === "minimal") {
    const minimal = await import("./peers/minimal_deno.ts");
    return minimal.handle;
  }
  const herald = await import("../main.ts");
  return herald.default.fetch;
}

const handler = await loadHandler(Deno.args[0] ?? "herald");
const gc = (globalThis as { gc?: () => void }).gc;

function memory(): Response {
  gc?.();
  gc?.();
  return Response.json({ ...Deno.memoryUsage(), gc: gc !== undefined });
}

Deno.serve({
  port: Number(Deno.env.get("PORT") ?? 8000),
  hostname: "127.0.0.1",
  onListen() {},
}, (request) => {
  const url = new URL(request.url);
  if (url.pathname === "/__bench/memory") return memory();
  if (url.pathname === "/__bench/heap" && request.method === "POST") {
    const file = url.searchParams.get("file") ?? undefined;
    return Response.json({ file: v8.writeHeapSnapshot(file) });
  }
  return handler(request);
});
