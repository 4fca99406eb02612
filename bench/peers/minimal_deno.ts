/**
 * @module The minimal `Deno.serve` SSE broadcaster of deno-notes.md, written
 * for the herald benchmark: a Set of stream controllers and one pre-encoded
 * chunk enqueued to each per message. No ids, history, topics, heartbeats or
 * limits. It measures what Deno's HTTP server and a `ReadableStream` cost per
 * connection before herald adds anything.
 *
 * Run: `PORT=8192 deno run --allow-net --allow-env bench/peers/minimal_deno.ts`
 */

const encoder = new TextEncoder();
const clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
const HEADERS = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
};

function subscribe(): Response {
  let controller: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      clients.add(c);
      c.enqueue(encoder.encode("retry: 5000\n\n"));
    },
    cancel() {
      clients.delete(controller);
    },
  });
  return new Response(body, { headers: HEADERS });
}

async function publish(request: Request): Promise<Response> {
  const parsed = await request.json() as { message?: unknown };
  const data = JSON.stringify({
    message: parsed.message,
    timestamp: Date.now(),
  });
  const chunk = encoder.encode(`event: chat\ndata: ${data}\n\n`);
  for (const c of clients) {
    try {
      c.enqueue(chunk);
    } catch {
      clients.delete(c);
    }
  }
  return Response.json({ clients: clients.size }, { status: 202 });
}

function handle(request: Request): Response | Promise<Response> {
  const path = new URL(request.url).pathname;
  if (request.method === "GET" && path === "/events") return subscribe();
  if (request.method === "POST" && path === "/message") return publish(request);
  if (request.method === "GET" && path === "/stats") {
    return Response.json({ clients: clients.size, isolates: 1 });
  }
  return new Response(null, { status: 404 });
}

Deno.serve({
  port: Number(Deno.env.get("PORT") ?? 8000),
  hostname: Deno.env.get("HOSTNAME") ?? "127.0.0.1",
  onListen() {},
}, handle);
