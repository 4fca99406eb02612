/**
 * The contract every engine keeps, run against each of them (memory on a
 * BroadcastChannel, Redis, Deno KV): two instances on one medium, real
 * channels, servers and files.
 */
import assert from "node:assert/strict";
import { createMemoryEngine } from "../engines/memory/engine.ts";
import { BroadcastChannelBus } from "../engines/memory/broadcast_channel_bus.ts";
import { connectRedisEngine } from "../engines/redis/engine.ts";
import { BusUnavailableError, type HubEvent } from "../lib/bus.ts";
import type { Engine } from "../lib/engine.ts";
import { compareIdText, parseId } from "../lib/event_id.ts";
import { openTestKvEngine, tempKvFile } from "./_kv.ts";
import { startRedis } from "./_redis.ts";
import { eventually } from "./_server.ts";

/** Instances of one engine that share a medium; dispose closes them all. */
interface World extends AsyncDisposable {
  /** Opens one more instance. */
  open(historySize?: number): Promise<Engine>;
  /** Lets retention catch up (the kv trimmer runs on a timer). */
  settle(engine: Engine): Promise<void>;
}

const worlds: Record<string, () => Promise<World>> = {
  memory() {
    const channel = `contract-${crypto.randomUUID()}`;
    const engines: Engine[] = [];
    let n = 0;
    return Promise.resolve({
      async open(historySize = 100) {
        const bus = new BroadcastChannelBus({
          channel,
          instance: `m${n++}`,
          joinMs: 0,
          presenceMs: 50,
          peerTimeoutMs: 1000,
        });
        const engine = createMemoryEngine({ bus, historySize });
        engines.push(engine);
        // The history is complete after the bus's horizon (its start + 1 ms).
        await eventually(
          () => parseId(bus.horizon())!.ms < Date.now(),
          1000,
          "the horizon to pass",
        );
        return engine;
      },
      settle: () => Promise.resolve(),
      async [Symbol.asyncDispose]() {
        for (const engine of engines) await engine.close();
      },
    });
  },
  async redis() {
    const redis = await startRedis();
    const engines: Engine[] = [];
    return {
      async open(historySize = 100) {
        const engine = await connectRedisEngine(redis.url, {
          historySize,
          keyPrefix: "contract:",
          connectTimeoutMs: 2000,
          commandTimeoutMs: 1000,
          blockMs: 500,
          presenceIntervalMs: 50,
          presenceTtlMs: 1000,
        });
        engines.push(engine);
        return engine;
      },
      settle: () => Promise.resolve(),
      async [Symbol.asyncDispose]() {
        for (const engine of engines) await engine.close();
        await redis[Symbol.asyncDispose]();
      },
    };
  },
  async kv() {
    const file = await tempKvFile();
    const engines: Engine[] = [];
    return {
      async open(historySize = 100) {
        const engine = await openTestKvEngine(file.path, { historySize });
        engines.push(engine);
        return engine;
      },
      async settle(engine) {
        if ("trim" in engine) {
          await (engine as { trim(): Promise<void> }).trim();
        }
      },
      async [Symbol.asyncDispose]() {
        for (const engine of engines) await engine.close();
        await file[Symbol.asyncDispose]();
      },
    };
  },
};

function draft(topic: string, data: string) {
  return { topic, event: "chat", data: JSON.stringify(data) };
}

/**
 * What an engine's bus delivers, and a wait for the n-th. Each event is
 * recorded in the engine's history first, as the hub does.
 */
function collect(engine: Engine) {
  const events: HubEvent[] = [];
  engine.bus.subscribe((event) => {
    engine.history.record(event);
    events.push(event);
  });
  return {
    events,
    arrived: (n: number) =>
      eventually(() => events.length >= n, 10_000, `${n} events`),
  };
}

/** Resolves once every instance sees all of them (peers have met). */
function met(...engines: Engine[]): Promise<void> {
  return eventually(
    () =>
      engines.every((engine) =>
        engine.bus.presence().instances === engines.length
      ),
    10_000,
    "instances to meet",
  );
}

for (const [name, makeWorld] of Object.entries(worlds)) {
  Deno.test(`${name} engine: every instance gets every event once, in one increasing order`, async () => {
    await using world = await makeWorld();
    const a = await world.open();
    const b = await world.open();
    await met(a, b);
    const seenA = collect(a);
    const seenB = collect(b);
    const published = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => (i % 2 === 0 ? a : b).bus.publish(draft("t", `${i}`)),
      ),
    );
    await seenA.arrived(20);
    await seenB.arrived(20);
    // A moment for any duplicate to show.
    await a.bus.publish(draft("end", "end"));
    await seenA.arrived(21);
    await seenB.arrived(21);
    const ids = seenA.events.map((event) => event.id);
    assert.deepEqual(seenB.events.map((event) => event.id), ids);
    assert.equal(new Set(ids).size, 21);
    for (let i = 1; i < ids.length; i++) {
      assert.ok(compareIdText(ids[i - 1]!, ids[i]!) < 0, "ids increase");
    }
    assert.deepEqual(
      new Set(seenA.events.slice(0, 20).map((event) => event.data)),
      new Set(published.map((event) => event.data)),
    );
    // The event record passes through unchanged, fields and all.
    const first = seenB.events.find((event) => event.id === published[0]!.id);
    assert.deepEqual(first, published[0]);
  });

  Deno.test(`${name} engine: replay after an id gives the later events of the asked topics in order`, async () => {
    await using world = await makeWorld();
    const a = await world.open();
    const b = await world.open();
    await met(a, b);
    const seenB = collect(b);
    const published: HubEvent[] = [];
    for (const topic of ["x", "y", "x", "z", "y"]) {
      published.push(await a.bus.publish(draft(topic, topic)));
    }
    await seenB.arrived(5);
    assert.deepEqual(await b.history.replay(["x", "y"], published[0]!.id), {
      events: [published[1], published[2], published[4]],
      reset: null,
    });
    assert.deepEqual(await b.history.replay(["z"], published[4]!.id), {
      events: [],
      reset: null,
    });
  });

  Deno.test(`${name} engine: its log's tail (when it keeps one) gives the newest events of all topics in order, within the bounds`, async () => {
    await using world = await makeWorld();
    const a = await world.open();
    const late = await world.open();
    if (name === "memory") {
      assert.equal(a.log, undefined, "each isolate hears every event itself");
      return;
    }
    const published: HubEvent[] = [];
    for (const [i, topic] of ["x", "y", "x", "z", "y"].entries()) {
      published.push(await a.bus.publish(draft(topic, "d".repeat(10 * i))));
    }
    // Any instance reads what any other published, from the shared log.
    assert.deepEqual(
      await late.log!.tail({ limit: 100, maxBytes: 1_000_000 }),
      published,
    );
    assert.deepEqual(
      await late.log!.tail({ limit: 2, maxBytes: 1_000_000 }),
      published.slice(3),
    );
    // 2 bytes a character: the newest ("d" × 40, JSON-quoted: 84 bytes) fits 100.
    assert.deepEqual(
      await late.log!.tail({ limit: 100, maxBytes: 100 }),
      published.slice(4),
    );
  });

  Deno.test(`${name} engine: a replay from before what retention kept reports history-exceeded`, async () => {
    await using world = await makeWorld();
    const a = await world.open(2);
    const seen = collect(a);
    const published: HubEvent[] = [];
    for (let i = 0; i < 5; i++) {
      published.push(await a.bus.publish(draft("t", `${i}`)));
    }
    await seen.arrived(5);
    await world.settle(a);
    assert.deepEqual(await a.history.replay(["t"], published[0]!.id), {
      events: published.slice(3),
      reset: { reason: "history-exceeded", topics: ["t"] },
    });
    assert.deepEqual(await a.history.replay(["t"], published[2]!.id), {
      events: published.slice(3),
      reset: null,
    }, "the newest trimmed event was seen: nothing lost");
  });

  Deno.test(`${name} engine: presence sums the clients of every live instance`, async () => {
    await using world = await makeWorld();
    const a = await world.open();
    const b = await world.open();
    a.bus.reportClients(2);
    b.bus.reportClients(3);
    await eventually(
      () => a.bus.presence().clients === 5 && b.bus.presence().clients === 5,
      10_000,
      "presence of both",
    );
    assert.equal(a.bus.presence().instances, 2);
    await b.close();
    await eventually(
      () => a.bus.presence().clients === 2,
      10_000,
      "b to drop out",
    );
    assert.equal(a.bus.presence().instances, 1);
  });

  Deno.test(`${name} engine: close() stops delivery and publish() rejects after it`, async () => {
    await using world = await makeWorld();
    const a = await world.open();
    await a.close();
    await assert.rejects(
      () => a.bus.publish(draft("t", "late")),
      BusUnavailableError,
    );
  });
}
