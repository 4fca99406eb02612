/**
 * `start:parallel` (tests/_process.ts picks the server) under the loads
 * that made BroadcastChannel drop events: bursts of large events, and stream
 * counts seen alike by every isolate. The soak sizes come from the environment, e.g.
 * BURST_EVENTS=3000 BURST_BYTES=60000 BURST_QUEUE_BYTES=1073741824 deno task test tests/parallel_delivery_test.ts
 */
import assert from "node:assert/strict";
import { startHerald } from "./_process.ts";
import { eventually } from "./_server.ts";
import { dataOf, SseClient, type SseEvent } from "./_sse_client.ts";

const JOBS = 4;
const BURST_EVENTS = Number(Deno.env.get("BURST_EVENTS") ?? 800);
const BURST_BYTES = Number(Deno.env.get("BURST_BYTES") ?? 8_000);
const PUBLISHERS = 8;
// A soak may publish more than a reader can take in time; let it queue.
const QUEUE_BYTES = Deno.env.get("BURST_QUEUE_BYTES") ??
  String(64 * 1024 * 1024);

/** Opens streams one by one until one stream is held by each of `jobs` isolates. */
async function oneStreamPerIsolate(
  url: string,
  jobs: number,
): Promise<SseClient[]> {
  const byIsolate = new Map<string, SseClient>();
  const extra: SseClient[] = [];
  for (let tries = 0; byIsolate.size < jobs && tries < 200; tries++) {
    const client = await SseClient.open(`${url}/events?topic=chat`);
    const isolate = String(dataOf(await client.next()).isolate);
    if (byIsolate.has(isolate)) extra.push(client);
    else byIsolate.set(isolate, client);
  }
  await Promise.all(extra.map((client) => client.close()));
  assert.equal(byIsolate.size, jobs, "a stream on every isolate");
  return [...byIsolate.values()];
}

/** Reads until `count` events with ids; any `reset` on the way is returned too. */
async function collectWithResets(
  client: SseClient,
  count: number,
  timeoutMs: number,
): Promise<{ events: SseEvent[]; resets: SseEvent[] }> {
  const deadline = Date.now() + timeoutMs;
  const events: SseEvent[] = [];
  const resets: SseEvent[] = [];
  while (events.length < count) {
    const event = await client.next(Math.max(1, deadline - Date.now()));
    if (event.event === "reset") resets.push(event);
    else if (event.id !== undefined) events.push(event);
  }
  return { events, resets };
}

async function publishBurst(url: string, count: number, bytes: number) {
  const pad = "x".repeat(bytes);
  const clients = Array.from(
    { length: PUBLISHERS },
    () => Deno.createHttpClient({}),
  );
  try {
    const ids = await Promise.all(clients.map(async (client, p) => {
      const mine: string[] = [];
      for (let i = p; i < count; i += PUBLISHERS) {
        const response = await fetch(`${url}/message`, {
          method: "POST",
          client,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ message: `${i}:${pad}` }),
        });
        assert.equal(response.status, 202, await response.clone().text());
        mine.push((await response.json()).id);
      }
      return mine;
    }));
    return ids.flat();
  } finally {
    for (const client of clients) client.close();
  }
}

Deno.test(`start:parallel with ${JOBS} isolates: a burst of ${BURST_EVENTS} events of ${BURST_BYTES} bytes reaches every isolate's stream, all, once, in one order, with no reset`, async () => {
  await using herald = await startHerald({
    jobs: JOBS,
    env: { MAX_QUEUED_BYTES: QUEUE_BYTES },
  });
  const clients = await oneStreamPerIsolate(herald.url, JOBS);
  try {
    const published = await publishBurst(herald.url, BURST_EVENTS, BURST_BYTES);
    const timeoutMs = Math.max(60_000, BURST_EVENTS * 40);
    const received = await Promise.all(
      clients.map((client) =>
        collectWithResets(client, BURST_EVENTS, timeoutMs)
      ),
    );
    const order = received[0]!.events.map((e) => e.id);
    assert.deepEqual(new Set(order), new Set(published), "the published set");
    for (const { events, resets } of received) {
      assert.deepEqual(resets, [], "no loss to report");
      assert.deepEqual(events.map((e) => e.id), order, "one order, once");
    }
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
});

Deno.test(`start:parallel with ${JOBS} isolates: every isolate reports the same client total within one presence period after streams open and close`, async () => {
  await using herald = await startHerald({ jobs: JOBS });
  /** Reads /stats until every isolate has answered; returns isolate → clients. */
  async function totals(): Promise<Map<string, number>> {
    const seen = new Map<string, number>();
    for (let tries = 0; seen.size < JOBS && tries < 400; tries++) {
      const response = await fetch(`${herald.url}/stats`, {
        headers: { connection: "close" },
      });
      const stats = await response.json();
      seen.set(String(stats.isolate), Number(stats.clients));
    }
    return seen;
  }
  async function converged(want: number): Promise<void> {
    // The presence period is 1 s; allow it once, plus the 50 ms coalescing.
    await eventually(
      async () => {
        const seen = await totals();
        return seen.size === JOBS &&
          [...seen.values()].every((n) => n === want);
      },
      1500,
      `every isolate to report ${want} clients`,
    );
  }
  const clients: SseClient[] = [];
  try {
    clients.push(...await oneStreamPerIsolate(herald.url, JOBS));
    for (let i = 0; i < 8; i++) {
      clients.push(await SseClient.open(`${herald.url}/events`));
    }
    await converged(clients.length);
    await Promise.all(clients.splice(0, 5).map((client) => client.close()));
    await converged(clients.length);
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
});
