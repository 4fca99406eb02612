import assert from "node:assert/strict";
import { BroadcastChannelBus } from "../engines/memory/broadcast_channel_bus.ts";
import type { HubEvent } from "../lib/bus.ts";
import { compareIds, parseId } from "../lib/event_id.ts";
import { eventually } from "./_server.ts";

/** Two buses on a fresh channel that join at once and say hello every 50 ms. */
function quickPair(): [BroadcastChannelBus, BroadcastChannelBus] {
  const channel = channelName();
  return [
    new BroadcastChannelBus({
      channel,
      instance: "a",
      joinMs: 0,
      presenceMs: 50,
    }),
    new BroadcastChannelBus({
      channel,
      instance: "b",
      joinMs: 0,
      presenceMs: 50,
    }),
  ];
}

function channelName(): string {
  return `test-${crypto.randomUUID()}`;
}

Deno.test("BroadcastChannelBus: three isolates publishing at once all deliver the same order, exactly once", async () => {
  const channel = channelName();
  const buses = ["a", "b", "c"].map((node) =>
    new BroadcastChannelBus({ channel, instance: node, joinMs: 20 })
  );
  const seen = buses.map(() => [] as HubEvent[]);
  buses.forEach((bus, i) => bus.subscribe((event) => seen[i]!.push(event)));
  try {
    const perBus = 200;
    const published = await Promise.all(
      buses.flatMap((bus, b) =>
        Array.from(
          { length: perBus },
          (_, i) =>
            bus.publish({ topic: "t", event: "chat", data: `${b}:${i}` }),
        )
      ),
    );
    const total = perBus * buses.length;
    await eventually(
      () => seen.every((list) => list.length >= total),
      5000,
      "every event everywhere",
    );
    const ids = seen[0]!.map((e) => e.id);
    assert.equal(new Set(ids).size, total, "no duplicates");
    assert.deepEqual(
      new Set(ids),
      new Set(published.map((e) => e.id)),
      "exactly the published set",
    );
    for (let i = 1; i < ids.length; i++) {
      assert.ok(
        compareIds(parseId(ids[i - 1]!)!, parseId(ids[i]!)!) < 0,
        "increasing ids",
      );
    }
    for (const list of seen) {
      assert.deepEqual(
        list.map((e) => e.id),
        ids,
        "same order on every isolate",
      );
    }
  } finally {
    await Promise.all(buses.map((bus) => bus.close()));
  }
});

Deno.test("BroadcastChannelBus: presence sums the client counts of every isolate, which are the process's streams", async () => {
  const [a, b] = quickPair();
  try {
    a.reportClients(3);
    b.reportClients(4);
    assert.equal(a.processClients(), 3, "its own count at once");
    await eventually(
      () => a.presence().clients === 7 && b.presence().clients === 7,
      3000,
      "presence",
    );
    assert.equal(a.presence().instances, 2);
    assert.equal(
      a.processClients(),
      7,
      "the hub's coalescing window counts both",
    );
    assert.equal(b.processClients(), 7);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("BroadcastChannelBus: an isolate that says goodbye stops being counted at once", async () => {
  const [a, b] = quickPair();
  try {
    b.reportClients(5);
    await eventually(() => a.presence().clients === 5, 3000, "b counted");
    await b.close();
    await eventually(
      () => a.presence().instances === 1 && a.presence().clients === 0,
      3000,
      "b gone",
    );
  } finally {
    await a.close();
    await b.close();
  }
});

/** A frame of the reliable channel (engines/memory/reliable_channel.ts) from a peer named "ghost". */
function ghostFrame(fields: Record<string, unknown>): Record<string, unknown> {
  return { herald: 2, from: "ghost", born: 0, acks: {}, starts: {}, ...fields };
}

Deno.test("BroadcastChannelBus: a silent isolate is forgotten after the timeout and stops holding events", async () => {
  const channel = channelName();
  const a = new BroadcastChannelBus({
    channel,
    instance: "a",
    joinMs: 0,
    presenceMs: 20,
    peerTimeoutMs: 150,
  });
  // A peer that says hello once and then never answers (as if its isolate hung).
  const ghost = new BroadcastChannel(channel);
  const seen: string[] = [];
  a.subscribe((event) => seen.push(event.data));
  try {
    ghost.postMessage(ghostFrame({
      kind: "control",
      next: 0,
      poll: false,
      body: { kind: "hello", clock: "1-0-ghost", clients: 2, joining: false },
    }));
    await eventually(() => a.presence().instances === 2, 2000, "ghost seen");
    await a.publish({ topic: "t", event: "chat", data: "held" });
    assert.deepEqual(seen, [], "held while the ghost's watermark is behind");
    await eventually(
      () => seen.length === 1,
      3000,
      "released after the timeout",
    );
    assert.equal(a.presence().instances, 1);
    // The ghost wakes up with an event stamped before what was delivered:
    // it is delivered late, not dropped, and counted.
    ghost.postMessage(ghostFrame({
      kind: "data",
      seq: 0,
      next: 0,
      items: [{ id: "1-1-ghost", topic: "t", event: "chat", data: "late" }],
    }));
    await eventually(() => seen.length === 2, 3000, "the late event");
    assert.deepEqual(seen, ["held", "late"]);
    assert.equal(a.late, 1);
  } finally {
    ghost.close();
    await a.close();
  }
});

Deno.test("BroadcastChannelBus.publish() rejects once closed", async () => {
  const bus = new BroadcastChannelBus({ channel: channelName(), joinMs: 0 });
  await bus.close();
  await assert.rejects(bus.publish({ topic: "t", event: "chat", data: "" }), {
    name: "BusUnavailableError",
  });
});
