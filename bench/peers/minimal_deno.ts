/**
 * @module The minimal `Deno.serve` SSE broadcaster of deno-notes.md, written
 * for the herald benchmark: a Set of stream controllers and one pre-encoded
 * chunk enqueued to each per message. No ids, history, topics, heartbeats or
 * limits. It measures what Deno's HTTP server and a `ReadableStream` cost per
 * connection before herald adds anything.
 *
 * With `BATCH_MS` > 0 it instead collects the frames published within that
 * many milliseconds and enqueues them to every stream as one chunk (one
 * allocation per batch, shared by all streams): the experiment behind the
 * "coalesce writes" suggestion in BENCHMARKS.md.
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

const BATCH_MS = Number(Deno.env.get("BATCH_MS") ?? 0);
let pending: Uint8Array[] = [];
let pendingBytes = 0;
let flushTimer: ReturnType<typeof setTimeout> | null = null;

function flush(): void {
  flushTimer = null;
  const chunk = new Uint8Array(pendingBytes);
  let offset = 0;
  for (const frame of pending) {
    chunk.set(frame, offset);
    offset += frame.length;
  }
  pending = [];
  pendingBytes = 0;
  broadcast(chunk);
}

async function publish(request: Request): Promise<Response> {
  const parsed = await request.json() as { message?: unknown };
  const data = JSON.stringify({
    message: parsed.message,
    timestamp: Date.now(),
  });
  const chunk = encoder.encode(`event: chat\ndata: ${data}\n\n`);
  if (BATCH_MS > 0) {
    pending.push(chunk);
    pendingBytes += chunk.length;
    flushTimer ??= setTimeout(flush, BATCH_MS);
  } else {
    broadcast(chunk);
  }
  return Response.json({ clients: clients.size }, { status: 202 });
}

function broadcast(chunk: Uint8Array): void {
  for (const c of clients) {
    try {
      c.enqueue(chunk);
    } catch {
      clients.delete(c);
    }
  }
}

/** The broadcaster's fetch handler. */
export function handle(request: Request): Response | Promise<Response> {
  const path = new URL(request.url).pathname;
  if (request.method === "GET" && path === "/events") return subscribe();
  if (request.method === "POST" && path === "/message") return publish(request);
  if (request.method === "GET" && path === "/stats") {
    return Response.json({ clients: clients.size, isolates: 1 });
  }
  return new Response(null, { status: 404 });
}

if (import.meta.main) {
  Deno.serve({
    port: Number(Deno.env.get("PORT") ?? 8000),
    hostname: Deno.env.get("HOSTNAME") ?? "127.0.0.1",
    onListen() {},
  }, handle);
}
