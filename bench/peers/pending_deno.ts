/**
 * @module Not an SSE server: `Deno.serve` with a handler that never answers,
 * so each connection holds a request in flight and no response body. With
 * `minimal_deno.ts` it splits Deno's per-stream cost into the HTTP
 * connection and the response stream (`memory_floor.ts`).
 *
 * Run: `PORT=8195 deno run --allow-net --allow-env bench/peers/pending_deno.ts`
 */

Deno.serve({
  hostname: Deno.env.get("HOSTNAME") ?? "127.0.0.1",
  port: Number(Deno.env.get("PORT") ?? 8000),
  onListen() {},
}, () => new Promise<Response>(() => {}));
