/** Never lose an event: Last-Event-ID replay over real sockets. */
import assert from "node:assert/strict";
import { BroadcastChannelBus } from "../engines/memory/broadcast_channel_bus.ts";
import { loadConfig } from "../lib/config.ts";
import { createApp } from "../routes/app.ts";
import { createMemoryEngine } from "../engines/memory/engine.ts";
import { compareIdText } from "../lib/event_id.ts";
import { dataOf, SseClient, type SseEvent } from "./_sse_client.ts";
import { startServer, type TestServer } from "./_server.ts";

async function publishN(
  server: TestServer,
  n: number,
  prefix: string,
  topic = "chat",
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const { status, json } = await server.publish({
      message: `${prefix}${i}`,
      topic,
    });
    assert.equal(status, 202);
    ids.push(String(json.id));
  }
  return ids;
}

function messagesOf(events: SseEvent[]): string[] {
  return events.map((event) => String(dataOf(event).message));
}

const SPELLINGS: Array<
  [string, (id: string) => { path: string; headers: Record<string, string> }]
> = [
  [
    "the Last-Event-ID header",
    (id) => ({ path: "/events", headers: { "last-event-id": id } }),
  ],
  [
    "?lastEventId=",
    (id) => ({
      path: `/events?lastEventId=${encodeURIComponent(id)}`,
      headers: {},
    }),
  ],
  [
    "?last_event_id=",
    (id) => ({
      path: `/events?last_event_id=${encodeURIComponent(id)}`,
      headers: {},
    }),
  ],
];

for (const [name, spell] of SPELLINGS) {
  Deno.test(`GET /events with ${name} replays exactly the missed events in order, then goes live`, async () => {
    await using server = await startServer();
    const [first] = await publishN(server, 1, "seen");
    const missed = await publishN(server, 5, "missed");
    const { path, headers } = spell(first!);
    await using client = await SseClient.open(`${server.url}${path}`, {
      headers,
    });
    const welcome = await client.next();
    assert.equal(welcome.event, "system");
    const replayed = await client.collect(5);
    assert.deepEqual(replayed.map((e) => e.id), missed);
    assert.deepEqual(messagesOf(replayed), [
      "missed0",
      "missed1",
      "missed2",
      "missed3",
      "missed4",
    ]);
    const [live] = await publishN(server, 1, "live");
    const next = await client.collect(1);
    assert.equal(next[0]!.id, live);
  });
}

Deno.test("GET /events replay racing with concurrent publishes: no gap, no duplicate", async () => {
  await using server = await startServer();
  const [first] = await publishN(server, 1, "seen");
  const published = await publishN(server, 20, "before");
  let publishing = true;
  const during = (async () => {
    for (let i = 0; publishing && i < 400; i++) {
      published.push(...await publishN(server, 1, "during"));
    }
  })();
  // Reconnect several times while the publisher runs.
  const streams: SseClient[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      streams.push(
        await SseClient.open(`${server.url}/events`, {
          headers: { "last-event-id": first! },
        }),
      );
    }
    publishing = false;
    await during;
    const [last] = await publishN(server, 1, "after");
    published.push(last!);
    const expected = [...published].sort(compareIdText);
    for (const client of streams) {
      const events = await client.waitFor((e) => e.id === last, 10_000);
      const ids = events.filter((e) => e.id !== undefined).map((e) => e.id!);
      assert.deepEqual(
        ids,
        expected,
        "every event after the id, once, in order",
      );
    }
  } finally {
    publishing = false;
    await during;
    await Promise.all(streams.map((client) => client.close()));
  }
});

Deno.test("GET /events after history overflow sends event: reset first, then the retained tail", async () => {
  await using server = await startServer({ env: { HISTORY_SIZE: "3" } });
  const [first] = await publishN(server, 1, "seen");
  const ids = await publishN(server, 6, "m");
  await using client = await SseClient.open(`${server.url}/events`, {
    headers: { "last-event-id": first! },
  });
  const reset = await client.next();
  assert.equal(reset.event, "reset");
  assert.equal(reset.id, undefined, "reset carries no id");
  assert.deepEqual(dataOf(reset).reason, "history-exceeded");
  assert.deepEqual(dataOf(reset).topics, ["chat"]);
  assert.equal(dataOf(reset).lastEventId, first);
  assert.equal((await client.next()).event, "system");
  assert.deepEqual((await client.collect(3)).map((e) => e.id), ids.slice(3));
});

Deno.test("GET /events with an unknown id sends event: reset, then goes live", async () => {
  await using server = await startServer();
  await publishN(server, 2, "old");
  await using client = await SseClient.open(`${server.url}/events`, {
    headers: { "last-event-id": "not-an-id" },
  });
  const reset = await client.next();
  assert.equal(reset.event, "reset");
  assert.equal(dataOf(reset).reason, "unknown-id");
  assert.equal((await client.next()).event, "system");
  const [live] = await publishN(server, 1, "live");
  assert.equal((await client.collect(1))[0]!.id, live);
});

Deno.test("GET /events following two topics resumes both from one Last-Event-ID", async () => {
  await using server = await startServer();
  const [a0] = await publishN(server, 1, "a", "a");
  const expected: string[] = [];
  for (let i = 0; i < 4; i++) {
    expected.push(...await publishN(server, 1, `b${i}-`, "b"));
    expected.push(...await publishN(server, 1, `a${i}-`, "a"));
    await publishN(server, 1, "c", "c");
  }
  await using client = await SseClient.open(
    `${server.url}/events?topic=a&topic=b`,
    { headers: { "last-event-id": a0! } },
  );
  assert.deepEqual((await client.collect(8)).map((e) => e.id), expected);
});

Deno.test("EventSource reconnects after a drain to another isolate and replays what it missed, exactly once", async () => {
  // Two isolates' apps on one BroadcastChannel, behind one socket: a tiny load
  // balancer that sends new connections to whichever isolate is up.
  const channel = `replay-${crypto.randomUUID()}`;
  const config = loadConfig({ UPDATE_INTERVAL_MS: "0", HEARTBEAT_MS: "0" });
  const readAsset = () => Promise.resolve(null);
  const apps = ["a", "b"].map((node) =>
    createApp(config, {
      engine: createMemoryEngine({
        bus: new BroadcastChannelBus({ channel, instance: node, joinMs: 0 }),
      }),
      readAsset,
    })
  );
  let current = apps[0]!;
  const controller = new AbortController();
  const { promise: listening, resolve } = Promise.withResolvers<number>();
  const server = Deno.serve({
    port: 0,
    hostname: "127.0.0.1",
    signal: controller.signal,
    onListen: ({ port }) => resolve(port),
  }, (request) => current.fetch(request));
  const url = `http://127.0.0.1:${await listening}`;
  const source = new EventSource(`${url}/events`);
  const received: MessageEvent[] = [];
  const opened: number[] = [];
  let onChat: (() => void) | null = null;
  source.addEventListener("chat", (event) => {
    received.push(event as MessageEvent);
    onChat?.();
  });
  // Welcomes only: the drain's last event is a `system` event too.
  source.addEventListener("system", (event) => {
    const data = JSON.parse((event as MessageEvent).data);
    if (data.reason === undefined) opened.push(Date.now());
  });
  const waitForChats = (count: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Only ${received.length} of ${count} events`)),
        10_000,
      );
      onChat = () => {
        if (received.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      };
      onChat();
    });
  const post = async (message: string) => {
    const response = await fetch(`${url}/message`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ message }),
    });
    assert.equal(response.status, 202);
    return (await response.json()).id as string;
  };
  try {
    const sent = [await post("before")];
    await waitForChats(1);
    // Isolate a goes away: its streams get a last event with a short retry
    // and end; b takes over.
    current = apps[1]!;
    apps[0]!.drain(50);
    sent.push(await post("while-away-1"), await post("while-away-2"));
    await waitForChats(3);
    sent.push(await post("live"));
    await waitForChats(4);
    assert.deepEqual(received.map((e) => e.lastEventId), sent);
    assert.deepEqual(received.map((e) => JSON.parse(e.data).message), [
      "before",
      "while-away-1",
      "while-away-2",
      "live",
    ]);
    assert.equal(opened.length, 2, "one reconnect");
  } finally {
    source.close();
    for (const app of apps) await app.close();
    controller.abort();
    await server.finished;
  }
});
