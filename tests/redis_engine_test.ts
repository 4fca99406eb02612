/**
 * The Redis engine against a real redis-server (tests/_redis.ts): two
 * engines on one Redis stand for two herald processes.
 */
import assert from "node:assert/strict";
import {
  connectRedisEngine,
  type RedisEngine,
  type RedisEngineOptions,
} from "../engines/redis/engine.ts";
import { BusUnavailableError, type HubEvent } from "../lib/bus.ts";
import { compareIds, parseId } from "../lib/event_id.ts";
import type { Logger } from "../lib/log.ts";
import { type RedisServer, startRedis } from "./_redis.ts";

type TestEngine = RedisEngine & AsyncDisposable;

/** Fast timings for tests; every engine of a test shares `keyPrefix`. */
async function open(
  redis: RedisServer,
  options: Partial<RedisEngineOptions> = {},
): Promise<TestEngine> {
  const engine = await connectRedisEngine(redis.url, {
    historySize: 100,
    keyPrefix: "test:",
    connectTimeoutMs: 2000,
    commandTimeoutMs: 500,
    blockMs: 500,
    presenceIntervalMs: 50,
    presenceTtlMs: 1000,
    ...options,
  });
  return { ...engine, [Symbol.asyncDispose]: () => engine.close() };
}

/** Collects what a bus delivers; `waitFor(n)` resolves once n arrived. */
function collect(engine: RedisEngine) {
  const events: HubEvent[] = [];
  let wanted = Infinity;
  let done: () => void = () => {};
  engine.bus.subscribe((event) => {
    events.push(event);
    if (events.length >= wanted) done();
  });
  return {
    events,
    async waitFor(count: number, timeoutMs = 5000): Promise<HubEvent[]> {
      if (events.length < count) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve, reject) => {
          wanted = count;
          done = resolve;
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `Timed out: ${events.length} of ${count} events after ${timeoutMs} ms`,
                ),
              ),
            timeoutMs,
          );
        }).finally(() => clearTimeout(timer));
      }
      return events;
    },
  };
}

/** Polls `check` every 10 ms until it holds, for at most `timeoutMs`. */
async function waitUntil(
  what: string,
  check: () => boolean,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function assertIncreasing(events: readonly HubEvent[]): void {
  for (let i = 1; i < events.length; i++) {
    const previous = parseId(events[i - 1]!.id)!;
    const current = parseId(events[i]!.id)!;
    assert.ok(
      compareIds(previous, current) < 0,
      `ids increase: ${events[i - 1]!.id} then ${events[i]!.id}`,
    );
  }
}

function draft(topic: string, data: string) {
  return { topic, event: "chat", data };
}

function memoryLogger() {
  const lines: { level: string; message: string; error?: unknown }[] = [];
  const logger: Logger = {
    log(level, message, fields) {
      lines.push({ level, message, error: fields?.error });
    },
  };
  return { lines, logger };
}

Deno.test("connectRedisEngine() fails with a clear message when nothing listens", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  const started = performance.now();
  await assert.rejects(
    connectRedisEngine(`redis://127.0.0.1:${port}`, { historySize: 10 }),
    (error: Error) => {
      assert.match(
        error.message,
        new RegExp(
          `^Cannot connect to Redis at redis://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`,
        ),
      );
      return true;
    },
  );
  assert.ok(performance.now() - started < 2000, "fails at once");
});

Deno.test("connectRedisEngine() gives up after connectTimeoutMs when Redis does not answer", async () => {
  // Accepts connections and never answers, like a frozen server.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) accepted.push(conn);
  })();
  try {
    const started = performance.now();
    await assert.rejects(
      connectRedisEngine(`redis://:secret@127.0.0.1:${listener.addr.port}`, {
        historySize: 10,
        connectTimeoutMs: 300,
      }),
      (error: Error) => {
        assert.match(
          error.message,
          /^Cannot connect to Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/?: /,
        );
        assert.doesNotMatch(error.message, /secret/);
        return true;
      },
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1500, `bounded start-up (${Math.round(elapsed)} ms)`);
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const conn of accepted) {
      try {
        conn.close();
      } catch {
        // Closed by the client already.
      }
    }
  }
});

Deno.test("connectRedisEngine() rejects a URL that is not redis://", async () => {
  await assert.rejects(
    connectRedisEngine("http://127.0.0.1:6379", { historySize: 10 }),
    /^Error: Cannot connect to Redis at http:\/\/127\.0\.0\.1:6379\/: the scheme must be redis: or rediss:$/,
  );
});

Deno.test("connectRedisEngine() rejects bad options before connecting", async () => {
  await assert.rejects(
    connectRedisEngine("redis://127.0.0.1:1", { historySize: -1 }),
    /^RangeError: Cannot connect to Redis: historySize must be an integer of at least 0, got -1$/,
  );
  await assert.rejects(
    connectRedisEngine("redis://127.0.0.1:1", {
      historySize: 10,
      presenceIntervalMs: 1000,
      presenceTtlMs: 1000,
    }),
    /^RangeError: Cannot connect to Redis: presenceTtlMs \(1000\) must be greater than presenceIntervalMs \(1000\)$/,
  );
});

Deno.test("RedisBus.publish() resolves with the Redis id; both processes get every event once, in order", async () => {
  await using redis = await startRedis();
  await using a = await open(redis, { instance: "a" });
  await using b = await open(redis, { instance: "b" });
  const seenA = collect(a);
  const seenB = collect(b);
  const published: HubEvent[] = [];
  for (let i = 0; i < 3; i++) {
    published.push(await a.bus.publish(draft("chat", `"a${i}"`)));
    published.push(await b.bus.publish(draft("news", `"b${i}"`)));
  }
  for (const event of published) assert.match(event.id, /^\d+-\d+$/);
  assert.equal(a.bus.instance, "a");
  assert.deepEqual(await seenA.waitFor(6), published);
  assert.deepEqual(await seenB.waitFor(6), published);
  assertIncreasing(published);
});

Deno.test("RedisBus concurrent publishes from two processes: one sequence, exactly once, increasing", async () => {
  await using redis = await startRedis();
  await using a = await open(redis, { instance: "a" });
  await using b = await open(redis, { instance: "b" });
  const seenA = collect(a);
  const seenB = collect(b);
  const topics = ["chat", "news", "sport"];
  const count = 300;
  const published = await Promise.all(
    Array.from({ length: count }, (_, i) => {
      const engine = i % 2 === 0 ? a : b;
      return engine.bus.publish(draft(topics[i % 3]!, JSON.stringify(i)));
    }),
  );
  const listA = await seenA.waitFor(count);
  const listB = await seenB.waitFor(count);
  assert.equal(listA.length, count);
  assert.deepEqual(listB, listA, "same sequence on both");
  assertIncreasing(listA);
  assert.equal(
    new Set(listA.map((e) => e.id)).size,
    count,
    "ids unique across topics",
  );
  assert.deepEqual(
    new Set(listA.map((e) => e.id)),
    new Set(published.map((e) => e.id)),
    "exactly the published events",
  );
  const byId = new Map(published.map((e) => [e.id, e]));
  for (const event of listA) assert.deepEqual(event, byId.get(event.id));
});

Deno.test("RedisHistory.replay() merges topics in id order after an exclusive id", async () => {
  await using redis = await startRedis();
  await using a = await open(redis, { instance: "a" });
  await using b = await open(redis, { instance: "b" });
  const a1 = await a.bus.publish(draft("a", "1"));
  const b1 = await b.bus.publish(draft("b", "1"));
  const a2 = await a.bus.publish(draft("a", "2"));
  const c1 = await b.bus.publish(draft("c", "1"));
  const b2 = await a.bus.publish(draft("b", "2"));

  assert.deepEqual(await b.history.replay(["a", "b"], a1.id), {
    events: [b1, a2, b2],
    reset: null,
  });
  // "0-0" is older than the log's generation (it began when the first
  // engine connected): everything retained, and a reset, as for any id from
  // before the log's history began.
  assert.deepEqual(await a.history.replay(["b", "a", "c"], "0-0"), {
    events: [a1, b1, a2, c1, b2],
    reset: { reason: "history-exceeded", topics: ["b", "a", "c"] },
  });
  // A herald id with a node part sorts after the Redis id it extends.
  assert.deepEqual(await a.history.replay(["a", "b"], `${b1.id}-zz`), {
    events: [a2, b2],
    reset: null,
  });
  assert.deepEqual(await a.history.replay(["a", "b", "c"], b2.id), {
    events: [],
    reset: null,
  });
  assert.deepEqual(await a.history.replay(["never"], b2.id), {
    events: [],
    reset: null,
  });
  assert.deepEqual(await a.history.replay([], a1.id), {
    events: [],
    reset: null,
  });
});

Deno.test("RedisHistory.replay() keeps historySize events per topic and reports the rest lost", async () => {
  await using redis = await startRedis();
  await using engine = await open(redis, { historySize: 2 });
  const t: HubEvent[] = [];
  for (let i = 0; i < 5; i++) {
    t.push(await engine.bus.publish(draft("t", `${i}`)));
  }
  const u = await engine.bus.publish(draft("u", "0"));

  assert.deepEqual(await engine.history.replay(["t", "u"], t[0]!.id), {
    events: [t[3], t[4], u],
    reset: { reason: "history-exceeded", topics: ["t"] },
  });
  assert.deepEqual(await engine.history.replay(["t"], t[2]!.id), {
    events: [t[3], t[4]],
    reset: null,
  });
});

Deno.test("RedisHistory.replay() is exact about what trimming removed", async () => {
  await using redis = await startRedis();
  await using engine = await open(redis, { historySize: 100 });
  const t: HubEvent[] = [];
  for (let i = 0; i < 10; i++) {
    t.push(await engine.bus.publish(draft("t", `${i}`)));
  }
  // Exact trimming, as XADD MAXLEN ~ does by whole nodes on a busy topic.
  assert.equal(await redis.cli("XTRIM", "test:topic:t", "MAXLEN", "5"), "5");

  assert.deepEqual(await engine.history.replay(["t"], t[4]!.id), {
    events: t.slice(5),
    reset: null,
  }, "the newest trimmed event was seen: nothing lost");
  assert.deepEqual(await engine.history.replay(["t"], t[3]!.id), {
    events: t.slice(5),
    reset: { reason: "history-exceeded", topics: ["t"] },
  }, "one trimmed event was not seen");
});

Deno.test("RedisHistory.replay() with historySize 0 keeps nothing and says so", async () => {
  await using redis = await startRedis();
  await using engine = await open(redis, { historySize: 0 });
  const before = await engine.bus.publish(draft("t", "0"));
  const last = await engine.bus.publish(draft("t", "1"));
  assert.equal(await redis.cli("XLEN", "test:topic:t"), "0");
  assert.deepEqual(await engine.history.replay(["t"], before.id), {
    events: [],
    reset: { reason: "history-exceeded", topics: ["t"] },
  });
  assert.deepEqual(await engine.history.replay(["t"], last.id), {
    events: [],
    reset: null,
  });
});

Deno.test("RedisHistory.replay() answers unknown-id with no events when the id does not parse", async () => {
  await using redis = await startRedis();
  await using engine = await open(redis);
  await engine.bus.publish(draft("chat", "1"));
  for (const id of ["abc", "", "1-2-3-4", "-1-0", "1-0-UPPER"]) {
    assert.deepEqual(await engine.history.replay(["chat", "news"], id), {
      events: [],
      reset: { reason: "unknown-id", topics: ["chat", "news"] },
    }, id);
  }
});

Deno.test("RedisHistory.replay() outlives the process that published", async () => {
  await using redis = await startRedis();
  const published: HubEvent[] = [];
  {
    await using first = await open(redis, { instance: "first" });
    for (let i = 0; i < 3; i++) {
      published.push(await first.bus.publish(draft("chat", `${i}`)));
    }
  }
  await using second = await open(redis, { instance: "second" });
  assert.deepEqual(await second.history.replay(["chat"], published[0]!.id), {
    events: published.slice(1),
    reset: null,
  });
});

Deno.test("RedisBus.publish() rejects with BusUnavailableError at once when Redis is killed", async () => {
  await using redis = await startRedis();
  await using engine = await open(redis);
  const seen = collect(engine);
  await engine.bus.publish(draft("chat", "before"));
  await seen.waitFor(1);
  await redis.kill();
  const started = performance.now();
  await assert.rejects(
    engine.bus.publish(draft("chat", "lost")),
    (error: Error) => {
      assert.ok(error instanceof BusUnavailableError);
      assert.equal(
        error.message,
        "Cannot publish: Redis is unavailable (not connected)",
      );
      return true;
    },
  );
  assert.ok(performance.now() - started < 1000, "rejects without waiting");
  await assert.rejects(
    (async () => await engine.history.replay(["chat"], "0-0"))(),
    BusUnavailableError,
  );
  assert.equal(
    seen.events.length,
    1,
    "nothing delivered that Redis did not take",
  );
});

Deno.test("RedisBus.publish() rejects within commandTimeoutMs when Redis freezes, then works again", async () => {
  await using redis = await startRedis();
  await using engine = await open(redis, { commandTimeoutMs: 300 });
  const seen = collect(engine);
  await engine.bus.publish(draft("chat", "0"));
  redis.pause();
  try {
    const started = performance.now();
    await assert.rejects(
      engine.bus.publish(draft("chat", "1")),
      (error: Error) => {
        assert.ok(error instanceof BusUnavailableError);
        assert.equal(
          error.message,
          "Cannot publish: Redis is unavailable (no answer within 300 ms)",
        );
        return true;
      },
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1000, `bounded (${Math.round(elapsed)} ms)`);
  } finally {
    redis.resume();
  }
  const after = await engine.bus.publish(draft("chat", "2"));
  const events = await seen.waitFor(3);
  // The timed-out publish reached Redis once it woke: it is delivered once,
  // in order, under its own id (a 503 after a timeout is not a proof of loss).
  assert.deepEqual(events.map((e) => e.data), ["0", "1", "2"]);
  assert.equal(events[2]!.id, after.id);
  assertIncreasing(events);
});

Deno.test("RedisBus resumes after a Redis crash and restart: no loss, no duplicate", async () => {
  await using redis = await startRedis({ persistence: true });
  await using a = await open(redis, { instance: "a" });
  await using b = await open(redis, { instance: "b" });
  const seenB = collect(b);
  // Redis dies the moment a's reader delivers the first event of a burst of
  // concurrent publishes: some are taken, some refused, some perhaps taken
  // without an answer. (Catching up on unread events is the next test.)
  let killed: Promise<void> | null = null;
  a.bus.subscribe(() => {
    if (killed !== null) return;
    killed = redis.kill();
  });
  const seenA = collect(a);
  const burst = await Promise.allSettled(
    Array.from({ length: 50 }, (_, i) => b.bus.publish(draft("chat", `${i}`))),
  );
  await waitUntil("the crash", () => killed !== null);
  await killed;
  await redis.start();
  // ioredis reconnects by itself: publishes fail (503) until it has.
  const after: HubEvent[] = [];
  const deadline = Date.now() + 5000;
  while (after.length < 10) {
    try {
      after.push(await a.bus.publish(draft("chat", `after${after.length}`)));
    } catch (error) {
      assert.ok(error instanceof BusUnavailableError);
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  // What Redis holds is the truth: every accepted publish, and perhaps some
  // whose answer was lost in the crash.
  const truth = (await a.history.replay(["chat"], "0-0")).events;
  const accepted = burst.flatMap((r) =>
    r.status === "fulfilled" ? [r.value] : []
  );
  for (const event of [...accepted, ...after]) {
    assert.ok(truth.some((e) => e.id === event.id), `${event.id} kept`);
  }
  assert.deepEqual(
    await seenA.waitFor(truth.length),
    truth,
    "a: every event once, in order",
  );
  assert.deepEqual(
    await seenB.waitFor(truth.length),
    truth,
    "b: every event once, in order",
  );
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(seenA.events.length, truth.length, "a: no duplicate");
  assert.equal(seenB.events.length, truth.length, "b: no duplicate");
});

Deno.test("RedisBus reader resumes from its last id when its connection is cut", async () => {
  await using redis = await startRedis();
  await using a = await open(redis, { instance: "a" });
  await using b = await open(redis, { instance: "b" });
  const seenA = collect(a);
  /** The CLIENT LIST id of a's reader connection, once it is connected. */
  async function readerId(other?: string): Promise<string> {
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      const clients = await redis.cli("CLIENT", "LIST");
      const line = clients.split("\n").find((l) =>
        l.includes("name=herald:a:reader")
      );
      const id = line?.match(/\bid=(\d+)/)?.[1];
      if (id !== undefined && id !== other) return id;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error("Timed out waiting for a's reader to connect");
  }
  let cutting = true;
  const publishing = (async () => {
    const published: HubEvent[] = [];
    while (cutting || published.length < 100) {
      published.push(await b.bus.publish(draft("chat", `${published.length}`)));
    }
    return published;
  })();
  try {
    // Cut a's reader three times while b publishes; it reconnects each time.
    let id = await readerId();
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      await redis.cli("CLIENT", "KILL", "ID", id);
      id = await readerId(id);
    }
  } finally {
    cutting = false;
  }
  const published = await publishing;
  assert.deepEqual(await seenA.waitFor(published.length), published);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(
    seenA.events.length,
    published.length,
    "no duplicate after the cuts",
  );
});

/** Events and losses as one bus tells them, in the order it tells them. */
function timeline(engine: RedisEngine) {
  const told: string[] = [];
  engine.bus.subscribe((event) => told.push(`event ${event.data}`));
  engine.bus.onLoss!((loss) => {
    assert.equal(loss.topics, null);
    told.push(`loss ${loss.reason}`);
  });
  return told;
}

/** Runs redis-cli synchronously: nothing else (the bus's reader) runs meanwhile. */
function cliSync(redis: RedisServer, ...args: string[]): string {
  const output = new Deno.Command("redis-cli", {
    args: ["-h", "127.0.0.1", "-p", String(redis.port), ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  return new TextDecoder().decode(output.stdout).trim();
}

Deno.test('RedisBus tells onLoss "log-trimmed" before the first event after events trimmed unread', async () => {
  await using redis = await startRedis();
  const { lines, logger } = memoryLogger();
  await using engine = await open(redis, { logger });
  const told = timeline(engine);
  let first = true;
  engine.bus.subscribe((event) => {
    if (!first) return;
    first = false;
    // Before the reader reads again, two more events come and the log is
    // trimmed to the newest: the one between is gone unread.
    const { ms } = parseId(event.id)!;
    for (const [seq, previous] of [[1, event.id], [2, `${ms + 1}-1`]]) {
      cliSync(
        redis,
        "XADD",
        "test:log",
        `${ms + 1}-${seq}`,
        ...["t", "chat", "e", "chat", "d", `${seq}`, "p", `${previous}`],
      );
    }
    assert.equal(cliSync(redis, "XTRIM", "test:log", "MAXLEN", "1"), "2");
  });
  await engine.bus.publish(draft("chat", "0"));
  await waitUntil("the event after the gap", () => told.length === 3);
  assert.deepEqual(told, ["event 0", "loss log-trimmed", "event 2"]);
  assert.ok(
    lines.some((line) =>
      line.level === "warn" &&
      String(line.error).startsWith(
        "Cannot deliver every event: the Redis log lost the events between",
      )
    ),
    JSON.stringify(lines),
  );
});

/** `call()`, tried again every 20 ms while Redis is not connected yet (5 s at most). */
async function onceConnected<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      assert.ok(error instanceof BusUnavailableError, String(error));
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

Deno.test('RedisBus tells onLoss "log-recreated" when Redis restarts empty, without waiting for an event', async () => {
  await using redis = await startRedis();
  await using a = await open(redis, { instance: "a" });
  await using b = await open(redis, { instance: "b" });
  const toldA = timeline(a);
  const toldB = timeline(b);
  const before = await a.bus.publish(draft("chat", "before"));
  await waitUntil("both read it", () => toldA.length + toldB.length === 2);
  await redis.kill();
  await redis.start();
  // Both readers reconnect, find a new generation of the log, and say so.
  await waitUntil("a's loss", () => toldA.length === 2);
  await waitUntil("b's loss", () => toldB.length === 2);
  assert.deepEqual(toldA, ["event before", "loss log-recreated"]);
  assert.deepEqual(toldB, ["event before", "loss log-recreated"]);
  // A reconnect from before the restart: history lost, never a silent replay
  // (once ioredis has reconnected the writer, which may come after the reader).
  assert.deepEqual(
    await onceConnected(async () =>
      await b.history.replay(["chat"], before.id)
    ),
    {
      events: [],
      reset: { reason: "history-exceeded", topics: ["chat"] },
    },
  );
  // Publishing works again too.
  const after = await onceConnected(() =>
    b.bus.publish(draft("chat", "after"))
  );
  await waitUntil("both read it", () => toldA.length + toldB.length === 6);
  assert.deepEqual(toldA, [
    "event before",
    "loss log-recreated",
    "event after",
  ]);
  assert.deepEqual(toldB, [
    "event before",
    "loss log-recreated",
    "event after",
  ]);
  assert.deepEqual(await a.history.replay(["chat"], before.id), {
    events: [after],
    reset: { reason: "history-exceeded", topics: ["chat"] },
  });
  assert.deepEqual(await a.history.replay(["chat"], after.id), {
    events: [],
    reset: null,
  });
});

Deno.test("RedisBus finds a flushed log whose new ids are below what it read, once idle", async () => {
  await using redis = await startRedis();
  await using engine = await open(redis, { blockMs: 200 });
  const told = timeline(engine);
  await engine.bus.publish(draft("chat", "0"));
  await waitUntil("the first event", () => told.length === 1);
  // A new log, as a Redis whose clock is behind the old one would make it:
  // its ids are all below the reader's, so XREAD alone would never see them.
  await redis.cli("FLUSHALL");
  await redis.cli("XADD", "test:log", "1-0", "g", "1-0 other", "p", "0-0");
  await redis.cli("SET", "test:generation", "1-0 other");
  await redis.cli(
    "XADD",
    "test:log",
    "5-0",
    ...["t", "chat", "e", "chat", "d", "low", "p", "1-0"],
  );
  await waitUntil("the new log's event", () => told.length === 3);
  assert.deepEqual(told, ["event 0", "loss log-recreated", "event low"]);
});

Deno.test("RedisBus reports a log flushed while events flow once, and delivers the new log once", async () => {
  await using redis = await startRedis();
  await using engine = await open(redis, { blockMs: 100 });
  const told = timeline(engine);
  await engine.bus.publish(draft("chat", "0"));
  await waitUntil("the first event", () => told.length === 1);
  await redis.cli("FLUSHALL");
  // The publish finds no log and starts a new generation; the reader, still
  // connected, sees an entry that does not follow what it read.
  await engine.bus.publish(draft("chat", "1"));
  await waitUntil("the loss and the event", () => told.length === 3);
  // Idle reads check the generation again: it is the one already followed.
  await new Promise((resolve) => setTimeout(resolve, 400));
  await engine.bus.publish(draft("chat", "2"));
  await waitUntil("the next event", () => told.length >= 4);
  assert.deepEqual(told, [
    "event 0",
    "loss log-recreated",
    "event 1",
    "event 2",
  ]);
});

Deno.test("RedisBus starts a new generation when Redis comes back from an older copy of the log, and every process resets", async () => {
  await using redis = await startRedis();
  await using a = await open(redis, { instance: "a" });
  // b reads on without a reconnect or an idle read: it learns from the log.
  await using b = await open(redis, { instance: "b", blockMs: 10_000 });
  const toldA = timeline(a);
  const toldB = timeline(b);
  const first = await a.bus.publish(draft("chat", "0"));
  const lost = await a.bus.publish(draft("chat", "1"));
  await waitUntil("both read both", () => toldA.length + toldB.length === 4);
  // The same generation, but the log ends before the last event read (an
  // append-only file that missed its last second), then a's reader's
  // connection drops, as when Redis restarts.
  await redis.cli("DEL", "test:log");
  await redis.cli(
    "XADD",
    "test:log",
    first.id,
    ...["t", "chat", "e", "chat", "d", "0", "p", "0-0"],
  );
  const clients = await redis.cli("CLIENT", "LIST");
  const reader = clients.split("\n").find((l) => l.includes("herald:a:reader"));
  await redis.cli("CLIENT", "KILL", "ID", reader!.match(/\bid=(\d+)/)![1]!);
  await waitUntil("a's loss", () => toldA.length === 3);
  await waitUntil("b's loss", () => toldB.length === 3);
  const next = await a.bus.publish(draft("chat", "2"));
  await waitUntil("the next event", () => toldA.length + toldB.length === 8);
  for (const told of [toldA, toldB]) {
    assert.deepEqual(told, [
      "event 0",
      "event 1",
      "loss log-recreated",
      "event 2",
    ]);
  }
  // A reconnect from before the new generation gets a reset.
  assert.deepEqual(await b.history.replay(["chat"], lost.id), {
    events: [next],
    reset: { reason: "history-exceeded", topics: ["chat"] },
  });
});

Deno.test("connectRedisEngine() adopts a log from before generations: no reset, no loss", async () => {
  await using redis = await startRedis();
  // Written as a herald without generations wrote them.
  for (
    const [key, id, p] of [["test:log", "5-0", "0-0"], [
      "test:log",
      "6-0",
      "5-0",
    ]]
  ) {
    await redis.cli(
      "XADD",
      key!,
      id!,
      ...["t", "chat", "e", "chat", "d", id!, "p", p!],
    );
  }
  for (const [id, p] of [["5-0", "0-0"], ["6-0", "5-0"]]) {
    await redis.cli(
      "XADD",
      "test:topic:chat",
      id!,
      "e",
      "chat",
      "d",
      id!,
      "p",
      p!,
    );
  }
  await using engine = await open(redis, { blockMs: 100 });
  const told = timeline(engine);
  assert.match(await redis.cli("GET", "test:generation"), /^0-0 [0-9a-f]{16}$/);
  assert.deepEqual(await engine.history.replay(["chat"], "5-0"), {
    events: [{ topic: "chat", event: "chat", data: "6-0", id: "6-0" }],
    reset: null,
  });
  const event = await engine.bus.publish(draft("chat", "new"));
  await waitUntil("the event", () => told.length === 1);
  // Idle reads find the same generation.
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(told, ["event new"]);
  assert.deepEqual((await engine.history.replay(["chat"], "6-0")).events, [
    event,
  ]);
});

Deno.test("RedisHistory.replay() resets an id that this log never made", async () => {
  await using redis = await startRedis();
  await using engine = await open(redis);
  const t: HubEvent[] = [];
  for (let i = 0; i < 3; i++) {
    t.push(await engine.bus.publish(draft("t", `${i}`)));
  }
  const unknown = {
    events: [],
    reset: { reason: "unknown-id", topics: ["t"] },
  };
  // Ahead of the log: an event Redis lost, or one from an older log whose
  // clock was ahead.
  const last = parseId(t[2]!.id)!;
  assert.deepEqual(
    await engine.history.replay(["t"], `${last.ms}-${last.seq + 1}`),
    unknown,
  );
  // Within what the log retains, but not in it: Redis lost it.
  assert.equal(await redis.cli("XDEL", "test:log", t[1]!.id), "1");
  assert.deepEqual(await engine.history.replay(["t"], t[1]!.id), unknown);
  assert.deepEqual(
    await engine.history.replay(["t"], `${t[1]!.id}-zz`),
    unknown,
  );
  assert.deepEqual(await engine.history.replay(["t"], t[0]!.id), {
    events: [t[1], t[2]],
    reset: null,
  });
});

Deno.test("RedisBus.presence() sums clients and processes over every engine", async () => {
  await using redis = await startRedis();
  await using a = await open(redis, { instance: "a" });
  {
    await using b = await open(redis, { instance: "b" });
    a.bus.reportClients(3);
    b.bus.reportClients(4);
    await waitUntil("a sees 7 clients", () => a.bus.presence().clients === 7);
    await waitUntil("b sees 7 clients", () => b.bus.presence().clients === 7);
    assert.deepEqual(a.bus.presence(), { clients: 7, instances: 2 });
    assert.deepEqual(b.bus.presence(), { clients: 7, instances: 2 });
    a.bus.reportClients(5);
    assert.equal(
      a.bus.presence().clients,
      9,
      "this process's own count is current",
    );
  }
  await waitUntil("b gone", () => a.bus.presence().instances === 1);
  assert.deepEqual(a.bus.presence(), { clients: 5, instances: 1 });
});

Deno.test("RedisBus.presence() forgets other processes when Redis is gone", async () => {
  await using redis = await startRedis();
  await using a = await open(redis, { instance: "a", presenceTtlMs: 300 });
  await using b = await open(redis, { instance: "b", presenceTtlMs: 300 });
  b.bus.reportClients(2);
  a.bus.reportClients(1);
  await waitUntil("a sees b", () => a.bus.presence().clients === 3);
  await redis.kill();
  await waitUntil("a alone", () => a.bus.presence().instances === 1, 2000);
  assert.deepEqual(a.bus.presence(), { clients: 1, instances: 1 });
});

Deno.test("RedisEngine.close() is prompt and clean while Redis is down", async () => {
  await using redis = await startRedis();
  const engine = await open(redis);
  await redis.kill();
  const started = performance.now();
  await engine.close();
  await engine.close();
  assert.ok(performance.now() - started < 1500, "bounded close");
  await assert.rejects(
    engine.bus.publish(draft("chat", "x")),
    BusUnavailableError,
  );
});

Deno.test("RedisEngine.close() is prompt while Redis is frozen", async () => {
  await using redis = await startRedis();
  const engine = await open(redis, { commandTimeoutMs: 3000 });
  await engine.bus.publish(draft("chat", "x"));
  redis.pause();
  try {
    const started = performance.now();
    await engine.close();
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1500, `bounded close (${Math.round(elapsed)} ms)`);
  } finally {
    redis.resume();
  }
});

Deno.test("RedisBus keeps delivering when a listener throws", async () => {
  await using redis = await startRedis();
  const { lines, logger } = memoryLogger();
  await using engine = await open(redis, { logger });
  engine.bus.subscribe(() => {
    throw new Error("listener failed");
  });
  const seen = collect(engine);
  await engine.bus.publish(draft("chat", "1"));
  await engine.bus.publish(draft("chat", "2"));
  assert.deepEqual((await seen.waitFor(2)).map((e) => e.data), ["1", "2"]);
  assert.ok(lines.some((line) => line.error === "listener failed"));
});

Deno.test("RedisBus and RedisHistory carry the private flag; public events stay without it", async () => {
  await using redis = await startRedis();
  await using a = await open(redis, { instance: "a" });
  await using b = await open(redis, { instance: "b" });
  const seenB = collect(b);
  const start = await a.bus.publish(draft("users/1", '"start"'));
  const secret = await a.bus.publish({
    ...draft("users/1", '"secret"'),
    private: true,
  });
  const open_ = await a.bus.publish(draft("users/1", '"open"'));
  assert.equal(secret.private, true);
  assert.ok(!("private" in open_));
  const live = await seenB.waitFor(3);
  assert.deepEqual(live.map((e) => e.private === true), [false, true, false]);
  assert.ok(!("private" in live[0]!), "a public event has no private field");
  const plan = await b.history.replay(["users/1"], start.id);
  assert.deepEqual(plan.events, [secret, open_]);
});
