import assert from "node:assert/strict";
import { type BusLoss, LocalBus } from "../lib/bus.ts";
import {
  type EventHistory,
  MemoryHistory,
  type ReplayPlan,
} from "../lib/history.ts";
import { Hub, HubClosedError, HubFullError } from "../lib/hub.ts";
import { slowReaderReason } from "../lib/subscriber.ts";
import { readUntil } from "./_stream_text.ts";

function chat(message: string, topic = "chat") {
  return { message, topic, event: "chat" };
}

function ids(text: string): string[] {
  return [...text.matchAll(/^id: (.*)$/gm)].map((m) => m[1]!);
}

function messages(text: string): string[] {
  return [...text.matchAll(/^event: chat\nid: .*\ndata: (.*)$/gm)].map((m) =>
    JSON.parse(m[1]!).message
  );
}

Deno.test("Hub.subscribe() with an async history holds live events during the replay: no gap, no duplicate", async () => {
  const bus = new LocalBus("a");
  const memory = new MemoryHistory();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  // A history that answers late, like Redis: everything published meanwhile must be held.
  const slow: EventHistory = {
    record: (event) => memory.record(event),
    replay: async (topics, lastId): Promise<ReplayPlan> => {
      const plan = memory.replay(topics, lastId);
      await gate;
      return plan;
    },
  };
  const hub = new Hub(bus, slow, { heartbeatMs: 0, updateIntervalMs: 0 });
  try {
    const first = await hub.publish(chat("m0"));
    await hub.publish(chat("m1"));
    await hub.publish(chat("m2"));
    const reader = hub.subscribe(["chat"], first.id).getReader();
    // Published while the replay is still being fetched.
    await hub.publish(chat("m3"));
    await hub.publish(chat("m4"));
    release();
    const text = await readUntil(reader, (t) => messages(t).length >= 4);
    assert.deepEqual(messages(text), ["m1", "m2", "m3", "m4"]);
    await hub.publish(chat("m5"));
    const more = await readUntil(
      reader,
      (t) => messages(t).length >= 5,
      3000,
      text,
    );
    assert.deepEqual(messages(more), ["m1", "m2", "m3", "m4", "m5"]);
    assert.equal(new Set(ids(more)).size, 5);
    await reader.cancel();
  } finally {
    await hub.close();
  }
});

Deno.test("Hub.subscribe() sends retry inside the reset block, then the welcome, then the replay, in that order", async () => {
  const hub = new Hub(new LocalBus("a"), new MemoryHistory({ size: 2 }), {
    heartbeatMs: 0,
    updateIntervalMs: 0,
    retryMs: 777,
  });
  try {
    const first = await hub.publish(chat("m0"));
    for (const m of ["m1", "m2", "m3"]) await hub.publish(chat(m));
    const reader = hub.subscribe(["chat"], first.id).getReader();
    const text = await readUntil(reader, (t) => messages(t).length >= 2);
    assert.match(
      text,
      /^retry: 777\nevent: reset\ndata: \{"reason":"history-exceeded"/,
    );
    assert.doesNotMatch(text, /^retry: \d+\n\n/m, "no lone retry block");
    assert.ok(text.indexOf("event: reset") < text.indexOf("event: system"));
    assert.ok(text.indexOf("event: system") < text.indexOf("event: chat"));
    assert.deepEqual(messages(text), ["m2", "m3"]);
    await reader.cancel();
  } finally {
    await hub.close();
  }
});

Deno.test("Hub.subscribe() treats an id far in the future as unknown", async () => {
  const hub = new Hub(new LocalBus("a"), new MemoryHistory(), {
    heartbeatMs: 0,
    updateIntervalMs: 0,
  });
  try {
    const future = `${Date.now() + 3_600_000}-0`;
    const reader = hub.subscribe(["chat"], future).getReader();
    const text = await readUntil(reader, (t) => t.includes("event: system"));
    assert.match(text, /"reason":"unknown-id"/);
    await hub.publish(chat("live"));
    const more = await readUntil(
      reader,
      (t) => messages(t).length >= 1,
      3000,
      text,
    );
    assert.deepEqual(messages(more), ["live"]);
    await reader.cancel();
  } finally {
    await hub.close();
  }
});

Deno.test("Hub cuts off a subscriber whose queue passes maxQueuedBytes, and others keep receiving", async () => {
  const hub = new Hub(new LocalBus("a"), new MemoryHistory(), {
    heartbeatMs: 0,
    updateIntervalMs: 0,
    maxQueuedBytes: 4096,
  });
  try {
    const stalled = hub.subscribe(["chat"], null);
    const reader = hub.subscribe(["chat"], null).getReader();
    let text = "";
    for (let i = 0; i < 100; i++) {
      await hub.publish(chat(`${i}:${"x".repeat(100)}`));
      text = await readUntil(reader, (t) => messages(t).length > i, 3000, text);
    }
    assert.equal(hub.stats().dropped, 1);
    assert.equal(hub.stats().localClients, 1);
    await assert.rejects(
      stalled.getReader().read(),
      (reason) => reason === slowReaderReason(4096),
    );
    await reader.cancel();
  } finally {
    await hub.close();
  }
});

Deno.test("Hub shares one heartbeat timer and one update timer among all streams", async () => {
  const hub = new Hub(new LocalBus("a"), new MemoryHistory(), {
    heartbeatMs: 20,
    updateIntervalMs: 30,
  });
  try {
    const readers = [
      hub.subscribe(["chat"], null),
      hub.subscribe(["other"], null),
    ].map((s) => s.getReader());
    for (const reader of readers) {
      const text = await readUntil(
        reader,
        (t) => t.includes(": keep-alive\n\n") && t.includes("event: update\n"),
      );
      const update = /event: update\ndata: (.*)\n/.exec(text)!;
      assert.equal(JSON.parse(update[1]!).clients, 2);
      assert.doesNotMatch(
        text.slice(text.indexOf("event: update")),
        /^event: update\nid:/,
      );
    }
    await Promise.all(readers.map((r) => r.cancel()));
    assert.equal(hub.stats().localClients, 0);
  } finally {
    await hub.close();
  }
});

Deno.test("Hub.subscribe() throws HubFullError at maxClients and HubClosedError once drained", async () => {
  const hub = new Hub(new LocalBus("a"), new MemoryHistory(), {
    heartbeatMs: 0,
    updateIntervalMs: 0,
    maxClients: 2,
  });
  const streams = [
    hub.subscribe(["chat"], null),
    hub.subscribe(["chat"], null),
  ];
  assert.throws(() => hub.subscribe(["chat"], null), HubFullError);
  await streams[0]!.cancel();
  const third = hub.subscribe(["chat"], null);
  hub.drain(100);
  assert.throws(() => hub.subscribe(["chat"], null), HubClosedError);
  for (const stream of [streams[1]!, third]) {
    const reader = stream.getReader();
    const text = await readUntil(
      reader,
      (t) => (t.match(/retry: /g) ?? []).length >= 2,
    );
    assert.equal(
      (await reader.read()).done,
      true,
      "the stream ends after the last retry",
    );
    // The hint travels in a real event, never in a block of its own.
    const last = /retry: (\d+)\nevent: system\ndata: (.*)\n\n$/.exec(text);
    assert.ok(last !== null, text);
    const retry = Number(last[1]);
    assert.ok(retry >= 100 && retry <= 150, `retry ${retry}`);
    const data = JSON.parse(last[2]!);
    assert.equal(data.reason, "drain");
    assert.equal(data.retry, retry);
    assert.doesNotMatch(text, /^retry: \d+\n\n/m, "no lone retry block");
  }
  assert.equal(hub.stats().localClients, 0);
  await hub.close();
});

Deno.test("Hub delivers a topic's events only to streams that follow it", async () => {
  const hub = new Hub(new LocalBus("a"), new MemoryHistory(), {
    heartbeatMs: 0,
    updateIntervalMs: 0,
  });
  try {
    const a = hub.subscribe(["a"], null).getReader();
    const ab = hub.subscribe(["a", "b"], null).getReader();
    await hub.publish(chat("to-b", "b"));
    await hub.publish(chat("to-a", "a"));
    assert.deepEqual(
      messages(await readUntil(ab, (t) => messages(t).length >= 2)),
      ["to-b", "to-a"],
    );
    assert.deepEqual(
      messages(await readUntil(a, (t) => messages(t).length >= 1)),
      ["to-a"],
    );
    await a.cancel();
    await ab.cancel();
  } finally {
    await hub.close();
  }
});

Deno.test("Hub ends a stream whose replay fails, so the client retries with the same Last-Event-ID", async () => {
  const failing: EventHistory = {
    record() {},
    replay: () => Promise.reject(new Error("Redis is down")),
  };
  const hub = new Hub(new LocalBus("a"), failing, {
    heartbeatMs: 0,
    updateIntervalMs: 0,
    retryMs: 100,
  });
  try {
    const reader = hub.subscribe(["chat"], "1-0").getReader();
    const text = await readUntil(reader, (t) => t.includes("retry: 100"));
    assert.equal((await reader.read()).done, true);
    assert.match(text, /^retry: 100\nevent: system\ndata: .*"replay-failed"/);
    assert.doesNotMatch(text, /event: reset/);
    assert.equal(hub.stats().localClients, 0);
  } finally {
    await hub.close();
  }
});

/** A LocalBus that can report a loss, as a bus with the `onLoss` power does. */
class LossyBus extends LocalBus {
  readonly #lossListeners = new Set<(loss: BusLoss) => void>();

  onLoss(listener: (loss: BusLoss) => void): () => void {
    this.#lossListeners.add(listener);
    return () => this.#lossListeners.delete(listener);
  }

  lose(loss: BusLoss): void {
    for (const listener of this.#lossListeners) listener(loss);
  }
}

Deno.test("Hub sends a live reset to the streams of the topics a bus lost events on, after what came before", async () => {
  const bus = new LossyBus("a");
  const hub = new Hub(bus, new MemoryHistory(), {
    heartbeatMs: 0,
    updateIntervalMs: 0,
  });
  try {
    const onChat = hub.subscribe(["chat"], null).getReader();
    const onBoth = hub.subscribe(["news", "chat"], null).getReader();
    const onNews = hub.subscribe(["news"], null).getReader();
    await hub.publish(chat("before"));
    bus.lose({ reason: "bus-gap", topics: ["chat"] });
    await hub.publish(chat("after"));
    const resetOf = (text: string) =>
      JSON.parse(/^event: reset\ndata: (.*)$/m.exec(text)![1]!);
    for (const reader of [onChat, onBoth]) {
      const text = await readUntil(reader, (t) => messages(t).length >= 2);
      assert.deepEqual(messages(text), ["before", "after"]);
      const reset = text.indexOf("event: reset");
      assert.ok(
        text.indexOf('"before"') < reset,
        "reset after the earlier event",
      );
      assert.ok(
        reset < text.indexOf('"after"'),
        "reset before the later event",
      );
      assert.equal(resetOf(text).reason, "bus-gap");
      assert.deepEqual(resetOf(text).topics, ["chat"]);
    }
    bus.lose({ reason: "log-recreated", topics: null });
    await hub.publish({ message: "n", topic: "news", event: "chat" });
    const news = await readUntil(onNews, (t) => messages(t).length >= 1);
    assert.equal(resetOf(news).reason, "log-recreated");
    assert.deepEqual(resetOf(news).topics, ["news"]);
    assert.equal(hub.stats().losses, 2);
    await Promise.all([onChat.cancel(), onBoth.cancel(), onNews.cancel()]);
  } finally {
    await hub.close();
  }
});

Deno.test("Hub replays a backlog larger than the stream's queue to a reader that keeps reading, then goes live, cutting no one off", async () => {
  const hub = new Hub(new LocalBus("a"), new MemoryHistory(), {
    heartbeatMs: 0,
    updateIntervalMs: 0,
    maxQueuedBytes: 16 * 1024,
    coalesceMs: 0,
  });
  try {
    const pad = "x".repeat(1000);
    const first = await hub.publish(chat("m0"));
    for (let i = 1; i <= 300; i++) await hub.publish(chat(`m${i}:${pad}`));
    const reader = hub.subscribe(["chat"], first.id).getReader();
    // Published while the replay waits for the reader.
    await hub.publish(chat("live"));
    const text = await readUntil(
      reader,
      (t) => messages(t).length >= 301,
      10_000,
    );
    const got = messages(text);
    assert.equal(got.length, 301);
    assert.ok(got[0]!.startsWith("m1:"));
    assert.ok(got[299]!.startsWith("m300:"));
    assert.equal(got[300], "live");
    assert.equal(hub.stats().dropped, 0);
    await reader.cancel();
  } finally {
    await hub.close();
  }
});

Deno.test("Hub names the instance in stats and welcomes, under the new name and the published one", async () => {
  const hub = new Hub(new LocalBus("abc"), new MemoryHistory(), {
    heartbeatMs: 0,
    updateIntervalMs: 0,
  });
  try {
    const stats = hub.stats();
    assert.equal(stats.instance, "abc");
    assert.equal(stats.isolate, "abc", "the field /stats first published");
    assert.equal(stats.instances, 1);
    assert.equal(stats.isolates, 1, "the field contract.md requires");
    const reader = hub.subscribe(["chat"], null).getReader();
    const text = await readUntil(reader, (t) => t.includes("event: system"));
    assert.match(text, /"instance":"abc"/);
    assert.match(text, /"isolate":"abc"/);
    await reader.cancel();
  } finally {
    await hub.close();
  }
});

Deno.test("Hub sizes its coalescing window on the streams of the whole process when the bus can tell", async () => {
  // One stream here, 2,500 across the process: a 50 ms window, not 1 ms.
  class ProcessBus extends LocalBus {
    processClients(): number {
      return 2500;
    }
  }
  const hub = new Hub(new ProcessBus("a"), new MemoryHistory(), {
    heartbeatMs: 0,
    updateIntervalMs: 0,
  });
  try {
    const reader = hub.subscribe(["chat"], null).getReader();
    await readUntil(reader, (t) => t.includes("event: system"));
    const started = performance.now();
    // The fan-out's saved-up tokens send the first three at once; the rest
    // wait for the window.
    for (let i = 0; i < 5; i++) await hub.publish(chat(`m${i}`));
    await readUntil(reader, (t) => messages(t).length >= 5);
    const waited = performance.now() - started;
    assert.ok(
      waited >= 40,
      `the last events waited for a 50 ms window, not 1 ms (${
        waited.toFixed(1)
      } ms)`,
    );
    await reader.cancel();
  } finally {
    await hub.close();
  }
});
