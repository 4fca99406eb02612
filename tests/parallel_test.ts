/**
 * `start:parallel` (node:http Workers, or `deno serve --parallel` with
 * `HERALD_TEST_SERVER=deno`): many isolates in one process, tied by the
 * BroadcastChannel bus. Subscribers and publishers land on every isolate.
 */
import assert from "node:assert/strict";
import { compareIdText } from "../lib/event_id.ts";
import { startHerald } from "./_process.ts";
import { eventually } from "./_server.ts";
import { dataOf, SseClient, type SseEvent } from "./_sse_client.ts";

// The CI run is small; a soak run raises the load, e.g.
// PARALLEL_SUBSCRIBERS=400 PARALLEL_EVENTS=2000 PARALLEL_PUBLISHERS=16 deno task test tests/parallel_test.ts
const SUBSCRIBERS = Number(Deno.env.get("PARALLEL_SUBSCRIBERS") ?? 24);
const EVENTS = 2 *
  Math.round(Number(Deno.env.get("PARALLEL_EVENTS") ?? 60) / 2);
const PUBLISHERS = Number(Deno.env.get("PARALLEL_PUBLISHERS") ?? 6);
const TIMEOUT_MS = Math.max(10_000, EVENTS * 20);

async function publishMany(
  url: string,
  count: number,
  publishers: number,
  prefix: string,
): Promise<string[]> {
  // One HTTP client per publisher with no pooling: each POST is a new
  // connection, which the kernel hands to any isolate.
  const clients = Array.from(
    { length: publishers },
    () => Deno.createHttpClient({ poolMaxIdlePerHost: 0 }),
  );
  try {
    const ids = await Promise.all(clients.map(async (client, p) => {
      const mine: string[] = [];
      for (let i = p; i < count; i += publishers) {
        const topic = i % 3 === 0 ? "other" : "chat";
        const response = await fetch(`${url}/message`, {
          method: "POST",
          client,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ message: `${prefix}${i}`, topic }),
        });
        assert.equal(response.status, 202);
        mine.push((await response.json()).id);
      }
      return mine;
    }));
    return ids.flat();
  } finally {
    for (const client of clients) client.close();
  }
}

function assertIncreasing(events: SseEvent[]): void {
  for (let i = 1; i < events.length; i++) {
    assert.ok(
      compareIdText(events[i - 1]!.id!, events[i]!.id!) < 0,
      `ids increase: ${events[i - 1]!.id} < ${events[i]!.id}`,
    );
  }
}

for (const jobs of [2, 4]) {
  Deno.test(`start:parallel with ${jobs} isolates: every subscriber gets every publish once, in one order, and reconnects replay on any isolate`, async () => {
    await using herald = await startHerald({ jobs });
    const subscriberCount = SUBSCRIBERS;
    // Opened one after another: an isolate accepts a whole burst of pending
    // connections at once, while connections that come one by one spread.
    const clients: SseClient[] = [];
    const isolates = new Set<string>();
    try {
      for (let i = 0; i < subscriberCount; i++) {
        const client = await SseClient.open(
          `${herald.url}/events?topic=chat&topic=other`,
        );
        clients.push(client);
        isolates.add(String(dataOf(await client.next()).isolate));
      }
      assert.ok(
        isolates.size >= 2,
        `subscribers spread over isolates: ${[...isolates]}`,
      );
      await eventually(
        async () => {
          const stats = await (await fetch(`${herald.url}/stats`)).json();
          return stats.clients === subscriberCount && stats.isolates === jobs;
        },
        5000,
        "/stats to count every stream on every isolate",
      );

      // Phase 1: 60 publishes from 6 concurrent publishers.
      const published = await publishMany(herald.url, EVENTS, PUBLISHERS, "a");
      const received = await Promise.all(
        clients.map((client) => client.collect(EVENTS, TIMEOUT_MS)),
      );
      const order = received[0]!.map((e) => e.id);
      assert.deepEqual(
        new Set(order),
        new Set(published),
        "exactly the published set",
      );
      for (const events of received) {
        assertIncreasing(events);
        assert.deepEqual(
          events.map((e) => e.id),
          order,
          "the same order on every stream",
        );
      }

      // Phase 2: half the subscribers drop; 30 publishes while they are away.
      const away = clients.splice(0, subscriberCount / 2);
      const lastSeen = order.at(-1)!;
      await Promise.all(away.map((client) => client.close()));
      const missed = await publishMany(herald.url, EVENTS / 2, PUBLISHERS, "b");
      const stayed = await Promise.all(
        clients.map((client) => client.collect(EVENTS / 2, TIMEOUT_MS)),
      );
      // They reconnect (to any isolate) with Last-Event-ID, as a browser does.
      const back: SseClient[] = [];
      for (const _ of away) {
        back.push(
          await SseClient.open(`${herald.url}/events?topic=chat&topic=other`, {
            headers: { "last-event-id": lastSeen },
          }),
        );
      }
      clients.push(...back);
      const replayed = await Promise.all(
        back.map((client) => client.collect(EVENTS / 2, TIMEOUT_MS)),
      );
      for (const events of [...stayed, ...replayed]) {
        assertIncreasing(events);
        assert.deepEqual(
          new Set(events.map((e) => e.id)),
          new Set(missed),
          "exactly the missed events",
        );
      }

      // Phase 3: live again, everywhere, with no duplicate of the replay.
      const live = await publishMany(herald.url, 6, 2, "c");
      for (const client of clients) {
        const events = await client.collect(6, TIMEOUT_MS);
        assert.deepEqual(new Set(events.map((e) => e.id)), new Set(live));
      }
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
    const status = await herald.stop("SIGTERM");
    assert.equal(status.code, 0, herald.output());
  });
}
