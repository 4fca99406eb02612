/**
 * A worker that runs a {@linkcode BroadcastChannelBus} on its own thread, as
 * one isolate of `deno serve --parallel` does, and publishes on command. Used
 * by tests/reliable_delivery_test.ts to flood a receiver kept busy on another
 * thread. Messages in: `{ channel, count, size, window, flag, raw }`, then
 * `"close"`. With `raw`, it posts `0 … count-1` then `"end"` on a bare BroadcastChannel. Messages out: `"ready"` (it has heard the other isolate),
 * `{ ids, delivery }` (all published), `"closed"`.
 */
/// <reference lib="deno.worker" />
import { BroadcastChannelBus } from "../engines/memory/broadcast_channel_bus.ts";

interface Start {
  channel: string;
  count: number;
  size: number;
  window: number | "auto";
  flag: SharedArrayBuffer;
  raw?: boolean;
}

let bus: BroadcastChannelBus | null = null;

self.onmessage = async (message: MessageEvent<Start | "close">) => {
  if (message.data === "close") {
    await bus?.close();
    self.postMessage("closed");
    return;
  }
  const { channel, count, size, window, flag, raw } = message.data;
  if (raw === true) {
    const bare = new BroadcastChannel(channel);
    for (let i = 0; i < count; i++) bare.postMessage(i);
    bare.postMessage("end");
    bare.close();
    Atomics.store(new Int32Array(flag), 0, 1);
    self.postMessage({ ids: [], delivery: null });
    return;
  }
  const mine = new BroadcastChannelBus({
    channel,
    instance: "pub",
    joinMs: 0,
    presenceMs: 100,
    peerTimeoutMs: 20_000,
    window,
  });
  bus = mine;
  while (mine.presence().instances < 2) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  self.postMessage("ready");
  const pad = "x".repeat(size);
  const ids: string[] = [];
  // One await per event: each leaves in its own frame, as separate POSTs do.
  for (let i = 0; i < count; i++) {
    ids.push(
      (await mine.publish({ topic: "t", event: "chat", data: `${i}:${pad}` }))
        .id,
    );
  }
  Atomics.store(new Int32Array(flag), 0, 1);
  self.postMessage({ ids, delivery: mine.delivery });
};
