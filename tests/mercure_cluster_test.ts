/**
 * `/.well-known/mercure` across isolates and processes: a Mercure update
 * (several topics, the publisher's id, raw data, private) published on one
 * server reaches the Mercure streams of another over the BroadcastChannel
 * bus and over the Redis engine, with its id and privacy intact.
 */
import assert from "node:assert/strict";
import { connectRedisEngine } from "../engines/redis/engine.ts";
import { BroadcastChannelBus } from "../engines/memory/broadcast_channel_bus.ts";
import { startHerald } from "./_process.ts";
import { startRedis } from "./_redis.ts";
import {
  eventually,
  type StartOptions,
  startServer,
  type TestServer,
} from "./_server.ts";
import { SseClient } from "./_sse_client.ts";
import { mint, SECRET } from "./_tokens.ts";

const ENV = { JWT_SECRET: SECRET, MERCURE_ANONYMOUS: "1" };

async function publishPrivateAndPublic(server: TestServer): Promise<void> {
  const token = await mint({ publish: ["*"] });
  for (
    const fields of [
      [["topic", "/x/1"], ["topic", "/y/1"], ["data", "secret"], [
        "private",
        "on",
      ], ["id", "urn:secret"]],
      [["topic", "/y/1"], ["data", "open"], ["id", "urn:open"]],
    ]
  ) {
    const response = await fetch(`${server.url}/.well-known/mercure`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: new URLSearchParams(fields as Array<[string, string]>),
    });
    assert.equal(response.status, 200);
    await response.body?.cancel();
  }
}

async function checkAcross(a: StartOptions, b: StartOptions): Promise<void> {
  await using one = await startServer({ env: ENV, ...a });
  await using two = await startServer({ env: ENV, ...b });
  const reader = await mint({ subscribe: ["/x/{n}"] });
  await using granted = await SseClient.open(
    `${two.url}/.well-known/mercure?topic=/y/1`,
    { headers: { authorization: `Bearer ${reader}` } },
  );
  await using anonymous = await SseClient.open(
    `${two.url}/.well-known/mercure?match=/y/1`,
  );
  await publishPrivateAndPublic(one);
  const mine = await granted.collect(2, 10_000);
  assert.deepEqual(mine.map((e) => [e.id, e.data]), [
    ["urn:secret", "secret"],
    ["urn:open", "open"],
  ]);
  const theirs = await anonymous.collect(1, 10_000);
  assert.deepEqual(theirs.map((e) => [e.id, e.data]), [["urn:open", "open"]]);
  // The other isolate knows the ids too: a reconnect replays after them.
  await using again = await SseClient.open(
    `${two.url}/.well-known/mercure?match=/y/1&lastEventID=urn:secret`,
  );
  assert.equal(
    again.response.headers.get("mercure-last-event-id"),
    "urn:secret",
  );
  assert.equal((await again.next(10_000)).id, "urn:open");
}

Deno.test("a Mercure update crosses isolates on the BroadcastChannel bus with its id, topics and privacy", async () => {
  const channel = `test-${crypto.randomUUID()}`;
  const a = new BroadcastChannelBus({ channel, instance: "a", joinMs: 0 });
  const b = new BroadcastChannelBus({ channel, instance: "b", joinMs: 0 });
  await eventually(() => b.presence().instances === 2, 5000, "the peer");
  await checkAcross({ bus: a }, { bus: b });
});

Deno.test("a Mercure update crosses processes on the Redis engine with its id, topics and privacy", async () => {
  await using redis = await startRedis();
  const options = {
    historySize: 100,
    keyPrefix: `mercure-${crypto.randomUUID()}:`,
    connectTimeoutMs: 2000,
    commandTimeoutMs: 1000,
    blockMs: 500,
    presenceIntervalMs: 50,
    presenceTtlMs: 1000,
  };
  const a = await connectRedisEngine(redis.url, options);
  const b = await connectRedisEngine(redis.url, options);
  try {
    await checkAcross({ engine: a }, { engine: b });
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("start:parallel with Mercure's env names: every Mercure stream gets every update in one order, and SIGTERM ends them", async () => {
  await using herald = await startHerald({
    jobs: 2,
    env: {
      MERCURE_PUBLISHER_JWT_KEY: SECRET,
      MERCURE_SUBSCRIBER_JWT_KEY: SECRET,
      MERCURE_ANONYMOUS: "1",
    },
  });
  const clients: SseClient[] = [];
  const publishers = Array.from(
    { length: 4 },
    () => Deno.createHttpClient({ poolMaxIdlePerHost: 0 }),
  );
  try {
    for (let i = 0; i < 6; i++) {
      clients.push(
        await SseClient.open(`${herald.url}/.well-known/mercure?match=*`),
      );
    }
    const token = await mint({ publish: ["*"] });
    const ids = await Promise.all(publishers.map(async (client, p) => {
      const mine: string[] = [];
      for (let i = 0; i < 5; i++) {
        const response = await fetch(`${herald.url}/.well-known/mercure`, {
          method: "POST",
          client,
          headers: {
            authorization: `Bearer ${token}`,
            "content-type": "application/x-www-form-urlencoded",
          },
          body: new URLSearchParams({
            topic: `/p/${p}`,
            data: `${p}-${i}`,
            id: `p${p}-${i}`,
          }),
        });
        assert.equal(response.status, 200);
        mine.push(await response.text());
      }
      return mine;
    }));
    const all = ids.flat();
    const orders: string[][] = [];
    for (const client of clients) {
      const events = await client.collect(all.length, 15_000);
      orders.push(events.map((e) => e.id!));
    }
    assert.deepEqual([...orders[0]!].sort(), [...all].sort());
    for (const order of orders) assert.deepEqual(order, orders[0]);
    const status = await herald.stop("SIGTERM");
    assert.equal(status.code, 0, herald.output());
    for (const client of clients) assert.equal(await client.ended(5000), true);
  } finally {
    for (const client of clients) await client.close();
    for (const client of publishers) client.close();
  }
});
