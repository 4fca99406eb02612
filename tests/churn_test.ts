/**
 * Churn: a thousand streams that open and vanish abruptly leave nothing
 * behind: no subscriber, no topic, no timer (the op sanitizer fails the test
 * on a leaked timer or socket), and the memory of a real process comes back.
 */
import assert from "node:assert/strict";
import { gcMemory, startGcServer } from "./_gc_server.ts";
import { connect, readChunk, writeAll } from "./_raw_http.ts";
import { eventually, startServer } from "./_server.ts";

const STREAMS = 1000;

/** How many sockets may be open at once: both ends live in this process. */
function batchSize(): number {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const soft = Number(/Max open files\s+(\d+)/.exec(limits)?.[1]);
    if (Number.isFinite(soft)) {
      return Math.max(50, Math.min(STREAMS, Math.floor((soft - 200) / 2)));
    }
  } catch {
    // Not Linux: be modest.
  }
  return 250;
}

const REQUEST =
  "GET /events?topic=chat&topic=churn HTTP/1.1\r\nHost: x\r\n\r\n";

type Ending = (conn: Deno.TcpConn) => Promise<void>;

/** The ways a client vanishes, none of them polite. */
const ENDINGS: ReadonlyArray<[string, Ending]> = [
  // Closed with the response unread: the kernel answers with RST.
  ["reset", (conn) => Promise.resolve(conn.close())],
  // Half-closed: FIN sent, still able to receive; then gone.
  ["half-close", async (conn) => {
    await conn.closeWrite();
    conn.close();
  }],
  // Read the first bytes like a real client, then dropped.
  ["read-then-drop", async (conn) => {
    await readChunk(conn, 5000);
    conn.close();
  }],
];

async function stats(url: string): Promise<Record<string, number>> {
  const response = await fetch(`${url}/stats`);
  return await response.json();
}

/**
 * Opens `count` streams in batches; once every stream of a batch is held by
 * the hub (`/stats` says so), they all vanish at once.
 */
async function churn(url: string, count: number): Promise<void> {
  const port = Number(new URL(url).port);
  const batch = batchSize();
  for (let done = 0; done < count; done += batch) {
    const size = Math.min(batch, count - done);
    const conns = await Promise.all(
      Array.from({ length: size }, async () => {
        const conn = await connect(port);
        await writeAll(conn, REQUEST);
        return conn;
      }),
    );
    await eventually(
      async () => (await stats(url)).localClients === size,
      10_000,
      `${size} streams to open`,
    );
    await Promise.all(
      conns.map((conn, i) => ENDINGS[i % ENDINGS.length]![1](conn)),
    );
    // Every stream of the batch is gone before the next one opens.
    await eventually(
      async () => (await stats(url)).localClients === 0,
      10_000,
      "every stream of the batch to be gone",
    );
  }
}

Deno.test("1,000 streams dropped abruptly (RST, half-close, after a read) leave no subscriber, topic or timer", async () => {
  await using server = await startServer({ env: { HEARTBEAT_MS: "200" } });
  const port = Number(new URL(server.url).port);
  // Some never finish their request, some are dropped before they are served.
  const partial = await connect(port);
  await writeAll(partial, "GET /events HTTP/1.1\r\nHost:");
  partial.close();
  const early = await connect(port);
  await writeAll(early, REQUEST);
  early.close();

  await churn(server.url, STREAMS);
  await eventually(
    async () => {
      const now = await stats(server.url);
      return now.localClients === 0 && now.topics === 0;
    },
    10_000,
    "every stream to be gone",
  );
  const after = await stats(server.url);
  assert.equal(after.localClients, 0);
  assert.equal(after.clients, 0);
  assert.equal(after.topics, 0);
  assert.equal(after.dropped, 0, "a vanished client is not a slow reader");
  // The hub still serves: a new stream gets its welcome and a publish.
  const response = await fetch(`${server.url}/events`);
  const reader = response.body!.getReader();
  try {
    assert.match(
      new TextDecoder().decode((await reader.read()).value),
      /^retry:/,
    );
  } finally {
    await reader.cancel();
  }
});

Deno.test("churn leaves the live heap of a real process where it was; RSS stays bounded", async () => {
  await using server = await startGcServer();
  // Warm up: first use grows the heap, code caches and pools once.
  await churn(server.url, STREAMS);
  const baseline = await gcMemory(server.url);
  for (let round = 0; round < 3; round++) await churn(server.url, STREAMS);
  const after = await gcMemory(server.url);
  const stats = await (await fetch(`${server.url}/stats`)).json();
  assert.equal(stats.localClients, 0);
  assert.equal(stats.topics, 0);
  // After a full GC the live heap is back within 0.1 MiB; keeping even one
  // Request object per stream would add about 2 MiB.
  const heapGrowth = after.heapUsed - baseline.heapUsed;
  assert.ok(
    heapGrowth < 0.5,
    `live heap grew by ${heapGrowth.toFixed(2)} MiB over 3,000 streams`,
  );
  // RSS does not shrink back (V8 and the allocator keep their pages; 20 to
  // 45 MiB here), but stays bounded: 3,000 leaked sockets with their
  // buffers would hold far more.
  const rssGrowth = after.rss - baseline.rss;
  assert.ok(
    rssGrowth < 96,
    `RSS grew by ${rssGrowth.toFixed(1)} MiB over 3,000 streams`,
  );
});
