import assert from "node:assert/strict";
import {
  autoWindow,
  type Frame,
  ReliableChannel,
} from "../engines/memory/reliable_channel.ts";

type Item = number;
type Ctl = string;

/**
 * A broadcast medium like Deno's: each receiver has a bounded inbox that
 * keeps the newest `capacity` frames; `drop` may lose any frame on the way.
 */
class Medium {
  readonly ends = new Map<string, ReliableChannel<Item, Ctl>>();
  readonly inboxes = new Map<string, Frame<Item, Ctl>[]>();
  readonly deaf = new Set<string>();
  posted = 0;
  constructor(
    readonly capacity = 256,
    readonly drop: (frame: Frame<Item, Ctl>, n: number) => boolean = () =>
      false,
  ) {}

  post(from: string, frame: Frame<Item, Ctl>): void {
    const n = this.posted++;
    for (const [name, inbox] of this.inboxes) {
      if (name === from || this.drop(frame, n)) continue;
      inbox.push(structuredClone(frame));
      if (inbox.length > this.capacity) inbox.shift();
    }
  }

  /** Hands every undeaf end its inbox, one frame per task. */
  async pump(): Promise<void> {
    for (const [name, inbox] of this.inboxes) {
      if (this.deaf.has(name)) continue;
      const frame = inbox.shift();
      if (frame !== undefined) this.ends.get(name)!.receive(frame);
    }
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

interface Log {
  readonly data: Array<[string, Item]>;
  readonly controls: Array<[string, Ctl]>;
  readonly losses: string[];
}

function join(
  medium: Medium,
  node: string,
  options: { window?: number | "auto"; maxBufferedBytes?: number } = {},
): { end: ReliableChannel<Item, Ctl>; log: Log } {
  const log: Log = { data: [], controls: [], losses: [] };
  medium.inboxes.set(node, []);
  const end = new ReliableChannel<Item, Ctl>(node, {
    post: (frame) => medium.post(node, frame),
    onData: (from, items) => items.forEach((i) => log.data.push([from, i])),
    onControl: (from, body) => log.controls.push([from, body]),
    onLoss: (from) => log.losses.push(from),
    size: () => 100,
    retryMs: 5,
    // Only the loss test gives up, on the sender's word, never on time:
    // a loaded machine must not turn slowness into a loss here.
    giveUpMs: 600_000,
    ...options,
  });
  medium.ends.set(node, end);
  return { end, log };
}

async function pumpUntil(
  medium: Medium,
  done: () => boolean,
  what: string,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await medium.pump();
  }
}

function itemsFrom(log: Log, from: string): Item[] {
  return log.data.filter(([f]) => f === from).map(([, i]) => i);
}

/** A seeded generator (mulberry32): the same losses on every run. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("ReliableChannel delivers every item in order, once, when the medium loses a third of the frames", async () => {
  const random = seeded(17);
  const medium = new Medium(256, () => random() < 1 / 3);
  const a = join(medium, "a");
  const b = join(medium, "b");
  const c = join(medium, "c");
  try {
    // The ends hear each other first, as isolates do when they join: each
    // says hello until all have heard all (an end that stopped once it had
    // heard both might never be heard itself, its hellos being lost).
    await pumpUntil(medium, () => {
      const all = [...medium.ends.values()];
      if (all.every((end) => end.peers === 2)) return true;
      for (const end of all) end.control("hello");
      return false;
    }, "every end to hear the others");
    for (let i = 0; i < 300; i++) {
      a.end.send(i);
      if (i % 7 === 0) await medium.pump();
    }
    const want = Array.from({ length: 300 }, (_, i) => i);
    // Every 20 pumps each end posts a control, as the bus's presence tick
    // does every second: a lost last frame is seen from the next one.
    let pumps = 0;
    await pumpUntil(
      medium,
      () => {
        if (++pumps % 20 === 0) {
          for (const end of medium.ends.values()) end.control("tick");
        }
        return itemsFrom(b.log, "a").length >= 300 &&
          itemsFrom(c.log, "a").length >= 300;
      },
      "every item at b and c",
    );
    assert.deepEqual(itemsFrom(b.log, "a"), want);
    assert.deepEqual(itemsFrom(c.log, "a"), want);
    assert.deepEqual([...b.log.losses, ...c.log.losses], []);
    assert.ok(b.end.stats.nacksSent + c.end.stats.nacksSent > 0);
  } finally {
    for (const end of medium.ends.values()) end.close();
  }
});

Deno.test("ReliableChannel keeps a sender's frames in flight within the window while a receiver is deaf", async () => {
  const medium = new Medium(256);
  const a = join(medium, "a");
  const b = join(medium, "b");
  try {
    b.end.control("hello");
    await pumpUntil(medium, () => a.end.peers === 1, "a to hear b");
    medium.deaf.add("b");
    for (let i = 0; i < 500; i++) {
      a.end.send(i);
      await medium.pump();
    }
    const dataFrames = medium.inboxes.get("b")!.filter((f) =>
      f.kind === "data"
    );
    assert.equal(dataFrames.length, autoWindow(1), "only the window went out");
    assert.ok(a.end.stats.stalls > 0);
    medium.deaf.delete("b");
    await pumpUntil(medium, () => itemsFrom(b.log, "a").length >= 500, "all");
    assert.deepEqual(
      itemsFrom(b.log, "a"),
      Array.from({ length: 500 }, (_, i) => i),
    );
    assert.equal(b.end.stats.nacksSent, 0, "nothing had to be recovered");
  } finally {
    for (const end of medium.ends.values()) end.close();
  }
});

Deno.test("ReliableChannel holds a control message until the data sent before it has arrived", async () => {
  // Frame 0 (the data) is lost once; the control after it must wait for it.
  let dropped = false;
  const medium = new Medium(256, (frame) => {
    if (!dropped && frame.kind === "data") return (dropped = true);
    return false;
  });
  const a = join(medium, "a");
  const b = join(medium, "b");
  try {
    b.end.control("b-hello");
    await pumpUntil(medium, () => a.end.peers === 1, "a to hear b");
    a.end.send(1);
    await Promise.resolve();
    a.end.control("after-1");
    await pumpUntil(medium, () => b.log.controls.length >= 1, "the control");
    assert.deepEqual(itemsFrom(b.log, "a"), [1], "the data came first");
    assert.deepEqual(b.log.controls, [["a", "after-1"]]);
  } finally {
    for (const end of medium.ends.values()) end.close();
  }
});

Deno.test("ReliableChannel reports a loss before later items when the sender no longer holds the frames", async () => {
  const medium = new Medium(4);
  const a = join(medium, "a", { window: Infinity, maxBufferedBytes: 1000 });
  const b = join(medium, "b");
  try {
    b.end.control("hello");
    await pumpUntil(medium, () => a.end.peers === 1, "a to hear b");
    medium.deaf.add("b");
    // Each item is its own frame; b's inbox keeps 4, a's buffer 10.
    for (let i = 0; i < 40; i++) {
      a.end.send(i);
      await Promise.resolve();
    }
    medium.deaf.delete("b");
    await pumpUntil(
      medium,
      () => itemsFrom(b.log, "a").includes(39),
      "the last item",
    );
    assert.deepEqual(b.log.losses, ["a"], "one loss, reported");
    const got = itemsFrom(b.log, "a");
    assert.deepEqual(got, [...got].sort((x, y) => x - y), "still in order");
    assert.ok(got.length >= 10 && got.length < 40);
  } finally {
    for (const end of medium.ends.values()) end.close();
  }
});
