/**
 * Several herald processes on one real Redis (REDIS_URL), as behind a load
 * balancer: one global order, failover with Last-Event-ID, history that
 * outlives the processes, and a Redis outage.
 */
import assert from "node:assert/strict";
import { compareIds, parseId } from "../lib/event_id.ts";
import { type HeraldProcess, startHerald } from "./_process.ts";
import { type RedisServer, startRedis } from "./_redis.ts";
import { dataOf, SseClient, type SseEvent } from "./_sse_client.ts";

/** Starts `count` herald processes on `redis`. */
function startCluster(
  redis: RedisServer,
  count: number,
): Promise<HeraldProcess[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        startHerald({ env: { REDIS_URL: redis.url, HISTORY_SIZE: "1000" } }),
    ),
  );
}

async function stopAll(processes: readonly HeraldProcess[]): Promise<void> {
  await Promise.all(processes.map((p) => p[Symbol.asyncDispose]()));
}

/** POSTs one message; answers the status and the JSON body. */
async function post(
  process: HeraldProcess,
  message: string,
  topic = "chat",
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${process.url}/message`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message, topic }),
  });
  return { status: response.status, json: await response.json() };
}

/** POSTs and expects 202; answers the id. */
async function publish(
  process: HeraldProcess,
  message: string,
  topic = "chat",
): Promise<string> {
  const { status, json } = await post(process, message, topic);
  assert.equal(status, 202, JSON.stringify(json));
  return String(json.id);
}

/** Opens a stream and waits for its welcome (the hub has registered it). */
async function subscribe(
  process: HeraldProcess,
  query = "topic=chat",
  headers: Record<string, string> = {},
): Promise<SseClient> {
  const client = await SseClient.open(`${process.url}/events?${query}`, {
    headers,
  });
  const welcome = await client.next();
  assert.equal(welcome.event, "system");
  return client;
}

/**
 * Opens a stream with `lastEventId` as a browser would: again, shortly, when
 * it ends at once (the replay failed: Redis is not reachable yet). Answers
 * the stream and its first event.
 */
async function reconnect(
  process: HeraldProcess,
  lastEventId: string,
): Promise<{ client: SseClient; first: SseEvent }> {
  const deadline = Date.now() + 10_000;
  while (true) {
    const client = await SseClient.open(`${process.url}/events?topic=chat`, {
      headers: { "last-event-id": lastEventId },
    });
    try {
      const first = await client.next(10_000);
      // While Redis is not back, the replay fails and the stream ends with a
      // farewell that says so: come back, as a browser does after `retry:`.
      if (
        first.event === "system" && dataOf(first).reason === "replay-failed"
      ) {
        throw new Error("The replay failed; the stream ended");
      }
      return { client, first };
    } catch (error) {
      await client.close();
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function assertIncreasing(ids: readonly string[]): void {
  for (let i = 1; i < ids.length; i++) {
    assert.ok(
      compareIds(parseId(ids[i - 1]!)!, parseId(ids[i]!)!) < 0,
      `ids increase: ${ids[i - 1]} then ${ids[i]}`,
    );
  }
}

/** Polls `check` every 10 ms until it holds, for at most 10 s. */
async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function messagesOf(events: readonly SseEvent[]): string[] {
  return events.map((event) => String(dataOf(event).message));
}

Deno.test("three herald processes on one Redis: every subscriber gets every event once, in one global order", async () => {
  await using redis = await startRedis();
  const processes = await startCluster(redis, 3);
  const clients: SseClient[] = [];
  try {
    for (const process of processes) {
      clients.push(await subscribe(process));
      clients.push(await subscribe(process, "topic=chat&topic=news"));
    }
    // Publishers on all three processes at once, on two topics.
    const perProcess = 20;
    const ids = (await Promise.all(processes.map(async (process, p) => {
      const mine: string[] = [];
      for (let i = 0; i < perProcess; i++) {
        mine.push(
          await publish(process, `p${p}-${i}`, i % 4 === 0 ? "news" : "chat"),
        );
      }
      return mine;
    }))).flat();
    assert.equal(new Set(ids).size, ids.length, "ids are unique");
    const total = ids.length;
    const newsCount = processes.length * (perProcess / 4);
    const both = await Promise.all(
      clients.filter((_, i) => i % 2 === 1).map((c) => c.collect(total)),
    );
    const chatOnly = await Promise.all(
      clients.filter((_, i) => i % 2 === 0).map((c) =>
        c.collect(total - newsCount)
      ),
    );
    const order = both[0]!.map((e) => e.id!);
    assertIncreasing(order);
    assert.deepEqual(
      new Set(order),
      new Set(ids),
      "exactly the published events",
    );
    for (const events of both) assert.deepEqual(events.map((e) => e.id), order);
    const chatOrder = both[0]!.filter((e) =>
      e.event === "chat" && dataOf(e).topic === "chat"
    )
      .map((e) => e.id);
    for (const events of chatOnly) {
      assert.deepEqual(events.map((e) => e.id), chatOrder);
    }

    // Presence is refreshed every second: wait for it to settle.
    const deadline = Date.now() + 5000;
    for (const process of processes) {
      while (true) {
        const stats = await (await fetch(`${process.url}/stats`)).json();
        if (stats.isolates === 3 && stats.clients === clients.length) break;
        if (Date.now() > deadline) {
          assert.deepEqual(
            { isolates: stats.isolates, clients: stats.clients },
            { isolates: 3, clients: clients.length },
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await stopAll(processes);
  }
});

Deno.test("a herald process dies: its client replays exactly the missed events from another, then goes live", async () => {
  await using redis = await startRedis();
  const processes = await startCluster(redis, 3);
  const [first, second, third] = processes as [
    HeraldProcess,
    HeraldProcess,
    HeraldProcess,
  ];
  try {
    const client = await subscribe(first);
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) seen.push(await publish(second, `seen${i}`));
    const received = await client.collect(5);
    assert.deepEqual(received.map((e) => e.id), seen);
    await first.stop("SIGKILL");
    // The stream breaks with its process (ended or reset), not by timeout.
    await assert.rejects(client.next(5000), (error: Error) => {
      assert.doesNotMatch(error.message, /No event within/);
      return true;
    });
    await client.close();

    const missed: string[] = [];
    for (let i = 0; i < 5; i++) missed.push(await publish(third, `missed${i}`));
    await using again = await subscribe(second, "topic=chat", {
      "last-event-id": seen.at(-1)!,
    });
    const replayed = await again.collect(5);
    assert.deepEqual(replayed.map((e) => e.id), missed);
    assert.deepEqual(messagesOf(replayed), missed.map((_, i) => `missed${i}`));
    const live = await publish(third, "live");
    assert.deepEqual((await again.collect(1)).map((e) => e.id), [live]);
  } finally {
    await stopAll(processes);
  }
});

Deno.test("every herald process restarts: history is still in Redis and replays", async () => {
  await using redis = await startRedis();
  let processes = await startCluster(redis, 3);
  const ids: string[] = [];
  try {
    for (let i = 0; i < 6; i++) {
      ids.push(await publish(processes[i % 3]!, `m${i}`));
    }
    await Promise.all(processes.map((p) => p.stop("SIGTERM")));
    processes = await startCluster(redis, 3);
    for (const process of processes) {
      await using client = await subscribe(process, "topic=chat", {
        "last-event-id": ids[1]!,
      });
      assert.deepEqual(
        (await client.collect(4)).map((e) => e.id),
        ids.slice(2),
      );
    }
  } finally {
    await stopAll(processes);
  }
});

Deno.test("Redis stops while publishing: 503s, no crash, then streams resume without a gap or a duplicate", async () => {
  await using redis = await startRedis({ persistence: true });
  const processes = await startCluster(redis, 3);
  const clients: SseClient[] = [];
  try {
    for (const process of processes) clients.push(await subscribe(process));
    const accepted: string[] = [];
    const refused: { status: number; error: unknown }[] = [];
    let publishing = true;
    // Publishers on every process, all the time.
    const publishers = processes.map(async (process, p) => {
      for (let i = 0; publishing; i++) {
        const { status, json } = await post(process, `p${p}-${i}`);
        if (status === 202) accepted.push(String(json.id));
        else {
          refused.push({ status, error: json.error });
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
    });
    try {
      await until("30 accepted", () => accepted.length >= 30);
      await redis.kill();
      await until("6 refused", () => refused.length >= 6);
      // Every process still serves while Redis is gone.
      for (const process of processes) {
        const stats = await fetch(`${process.url}/stats`);
        assert.equal(stats.status, 200);
        await stats.body?.cancel();
      }
      const before = accepted.length;
      await redis.start();
      await until("30 more accepted", () => accepted.length >= before + 30);
    } finally {
      publishing = false;
      await Promise.all(publishers);
    }
    for (const { status, error } of refused) {
      assert.equal(status, 503);
      assert.match(String(error), /^Cannot publish: /);
    }
    // The outage is logged in herald's words, not the Redis client's.
    for (const process of processes) {
      const logged = process.output();
      assert.match(logged, /"error":"not connected"/);
      assert.doesNotMatch(
        logged,
        /maxRetriesPerRequest|max retries per request/,
      );
    }
    // Redis is the truth: every accepted event, and perhaps some whose answer
    // was lost in the crash. Every open stream gets exactly that, in order.
    // The log's generation survived with it: replay from its floor is all.
    const generation = await redis.cli("GET", "herald:generation");
    await using probe = await subscribe(processes[0]!, "topic=chat", {
      "last-event-id": generation.split(" ")[0]!,
    });
    const last = accepted.reduce((a, b) =>
      compareIds(parseId(a)!, parseId(b)!) > 0 ? a : b
    );
    const truth = (await probe.waitFor((e) => e.id === last))
      .filter((e) => e.id !== undefined).map((e) => e.id!);
    for (const id of accepted) assert.ok(truth.includes(id), `${id} kept`);
    assertIncreasing(truth);
    const final = await publish(processes[1]!, "final");
    for (const client of clients) {
      const events = await client.waitFor((e) => e.id === final);
      // Redis kept everything (appendfsync always): no reset either.
      assert.deepEqual(events.filter((e) => e.event === "reset"), []);
      assert.deepEqual(
        events.filter((e) => e.id !== undefined).map((e) => e.id),
        [...truth, final],
      );
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await stopAll(processes);
  }
});

Deno.test("Redis restarts empty: live streams and reconnects from before get a reset, then publishing works again", async () => {
  await using redis = await startRedis();
  const processes = await startCluster(redis, 2);
  const [first, second] = processes as [HeraldProcess, HeraldProcess];
  try {
    await using live = await subscribe(first);
    const before = await publish(second, "before");
    assert.deepEqual((await live.collect(1)).map((e) => e.id), [before]);
    await redis.kill();
    await redis.start();
    // The live stream is told at once, not left to silence.
    const reset = await live.next(10_000);
    assert.equal(reset.event, "reset");
    assert.equal(dataOf(reset).reason, "log-recreated");
    // A reconnect with the id from before the restart, once the process it
    // goes to has seen the restart too (else its own live reset may come
    // first): a reset, then live.
    const deadline0 = Date.now() + 10_000;
    for (;;) {
      const stats = await (await fetch(`${second.url}/stats`)).json();
      if (stats.losses >= 1) break;
      if (Date.now() > deadline0) assert.fail("the second process saw no loss");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const { client: again, first: replayReset } = await reconnect(
      second,
      before,
    );
    await using _again = again;
    assert.equal(replayReset.event, "reset");
    assert.deepEqual(
      [dataOf(replayReset).reason, dataOf(replayReset).lastEventId],
      ["history-exceeded", before],
    );
    assert.equal((await again.next()).event, "system");
    // 503 until each process's writer has reconnected, then 202 again.
    let after: string | null = null;
    const deadline = Date.now() + 10_000;
    while (after === null) {
      const { status, json } = await post(first, "after");
      if (status === 202) after = String(json.id);
      else if (Date.now() > deadline) assert.fail(JSON.stringify(json));
      else await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual((await live.collect(1)).map((e) => e.id), [after]);
    assert.deepEqual((await again.collect(1)).map((e) => e.id), [after]);
  } finally {
    await stopAll(processes);
  }
});

Deno.test("a herald process left behind by a trimmed log resets its live streams before the next event", async () => {
  await using redis = await startRedis();
  const processes = await startCluster(redis, 2);
  const [slow, other] = processes as [HeraldProcess, HeraldProcess];
  try {
    await using live = await subscribe(slow);
    const first = await publish(other, "first");
    assert.deepEqual((await live.collect(1)).map((e) => e.id), [first]);
    // The slow process is frozen while events come and the log is trimmed
    // past them (as MAXLEN does when a process is too far behind).
    slow.child.kill("SIGSTOP");
    const ids: string[] = [];
    try {
      for (let i = 0; i < 4; i++) ids.push(await publish(other, `m${i}`));
      const trimmed = await redis.cli("XTRIM", "herald:log", "MAXLEN", "1");
      assert.ok(Number(trimmed) >= 4, trimmed);
    } finally {
      slow.child.kill("SIGCONT");
    }
    const seen = await live.waitFor((e) => e.id === ids.at(-1), 10_000);
    // Perhaps m0 (read just before the freeze), then the reset, then the last.
    const kinds = seen.map((e) => e.event === "reset" ? "reset" : e.id);
    assert.ok(
      JSON.stringify(kinds) === JSON.stringify(["reset", ids[3]]) ||
        JSON.stringify(kinds) === JSON.stringify([ids[0], "reset", ids[3]]),
      JSON.stringify(kinds),
    );
    assert.equal(dataOf(seen.at(-2)!).reason, "log-trimmed");
  } finally {
    await stopAll(processes);
  }
});
