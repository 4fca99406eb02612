/**
 * The 256-message drop of Deno's BroadcastChannel, reproduced with a real
 * receiver thread kept busy while another floods it, and what the bus does
 * about it: flow control keeps the flood under the bound, and when that is
 * turned off, gap recovery still delivers everything, in order, once.
 */
import assert from "node:assert/strict";
import { BroadcastChannelBus } from "../engines/memory/broadcast_channel_bus.ts";
import type { HubEvent } from "../lib/bus.ts";
import type { ReliableChannelStats } from "../engines/memory/reliable_channel.ts";
import { eventually } from "./_server.ts";

const BUSY_LIMIT_MS = 20_000;

/** Blocks this thread until the worker sets the flag (or the limit passes). */
function busyUntil(flag: SharedArrayBuffer): void {
  const cell = new Int32Array(flag);
  const deadline = Date.now() + BUSY_LIMIT_MS;
  while (Atomics.load(cell, 0) === 0 && Date.now() < deadline) {
    // Spinning on purpose: this isolate must not read its channel meanwhile.
  }
}

function nextMessage<T>(worker: Worker): Promise<T> {
  return new Promise((resolve) => {
    worker.addEventListener("message", (m) => resolve(m.data as T), {
      once: true,
    });
  });
}

function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out waiting for ${what}`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function startWorker(): Worker {
  return new Worker(new URL("./_bus_worker.ts", import.meta.url), {
    type: "module",
  });
}

Deno.test("BroadcastChannel itself keeps only 256 messages for a busy receiver (the platform bound herald works around)", async () => {
  const channel = `raw-${crypto.randomUUID()}`;
  const receiver = new BroadcastChannel(channel);
  const received: number[] = [];
  const ended = new Promise<void>((resolve) => {
    receiver.onmessage = (m) => {
      if (m.data === "end") resolve();
      else received.push(m.data);
    };
  });
  const worker = startWorker();
  try {
    const flag = new SharedArrayBuffer(4);
    const done = nextMessage(worker);
    worker.postMessage({
      channel,
      count: 2000,
      size: 0,
      window: 0,
      flag,
      raw: true,
    });
    busyUntil(flag);
    await done;
    await withTimeout(ended, 5000, "the end marker");
    // The newest 256 messages survive (the marker among them); the rest are gone.
    assert.equal(received.length, 255);
    assert.deepEqual(received, Array.from({ length: 255 }, (_, i) => 1745 + i));
  } finally {
    worker.terminate();
    receiver.close();
  }
});

async function flood(
  window: number | "auto",
): Promise<
  {
    seen: HubEvent[];
    ids: string[];
    sender: ReliableChannelStats;
    receiver: ReliableChannelStats;
  }
> {
  const channel = `flood-${crypto.randomUUID()}`;
  const bus = new BroadcastChannelBus({
    channel,
    instance: "sub",
    joinMs: 0,
    presenceMs: 100,
    peerTimeoutMs: 20_000,
    window,
  });
  const seen: HubEvent[] = [];
  bus.subscribe((event) => seen.push(event));
  const worker = startWorker();
  try {
    const flag = new SharedArrayBuffer(4);
    const ready = nextMessage<string>(worker);
    worker.postMessage({ channel, count: 2000, size: 10_000, window, flag });
    assert.equal(await ready, "ready");
    const published = nextMessage<
      { ids: string[]; delivery: ReliableChannelStats }
    >(worker);
    busyUntil(flag);
    const { ids } = await published;
    await eventually(() => seen.length >= ids.length, 20_000, "every event");
    const closed = nextMessage<string>(worker);
    const stats = nextMessage<
      { ids: string[]; delivery: ReliableChannelStats }
    >(worker);
    void stats;
    worker.postMessage("close");
    await closed;
    return {
      seen,
      ids,
      sender: (await published).delivery,
      receiver: bus.delivery,
    };
  } finally {
    worker.terminate();
    await bus.close();
  }
}

function assertExactlyOnceInOrder(seen: HubEvent[], ids: string[]): void {
  assert.equal(seen.length, ids.length, "as many as were published");
  assert.deepEqual(seen.map((e) => e.id), ids, "the same ids, in order, once");
  seen.forEach((event, i) => assert.ok(event.data.startsWith(`${i}:`)));
}

Deno.test("BroadcastChannelBus: 2,000 large events to an isolate kept busy all arrive, in order, once (flow control)", async () => {
  const { seen, ids, sender, receiver } = await flood("auto");
  assertExactlyOnceInOrder(seen, ids);
  assert.ok(sender.stalls > 0, "the window held the flood back");
  assert.equal(receiver.losses, 0);
});

Deno.test("BroadcastChannelBus: with flow control off, the channel drops and gap recovery still delivers all 2,000, in order, once", async () => {
  const { seen, ids, receiver } = await flood(Infinity);
  assertExactlyOnceInOrder(seen, ids);
  assert.ok(receiver.nacksSent > 0, "the receiver saw a gap and asked");
  assert.equal(receiver.losses, 0);
});
