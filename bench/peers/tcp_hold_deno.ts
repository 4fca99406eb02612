/**
 * @module Not an SSE server: a `Deno.listen` loop that answers any request
 * with an SSE response head and then only holds the socket, one pending
 * `read()` each. It measures what an open TCP connection costs a Deno
 * process before any HTTP server is involved (`memory_floor.ts`).
 *
 * Run: `PORT=8194 deno run --allow-net --allow-env bench/peers/tcp_hold_deno.ts`
 */

const HEAD = new TextEncoder().encode(
  "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n" +
    "transfer-encoding: chunked\r\n\r\n",
);

async function hold(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(1024);
  try {
    await conn.read(buf);
    await conn.write(HEAD);
    while ((await conn.read(buf)) !== null) {
      // Discard: the client never sends more.
    }
  } catch {
    // reset by the client
  } finally {
    try {
      conn.close();
    } catch {
      // closed already
    }
  }
}

const listener = Deno.listen({
  hostname: Deno.env.get("HOSTNAME") ?? "127.0.0.1",
  port: Number(Deno.env.get("PORT") ?? 8000),
});
for await (const conn of listener) void hold(conn);
