import assert from "node:assert/strict";
import fc from "fast-check";
import type { HubEvent } from "../lib/bus.ts";
import { MemoryHistory } from "../lib/history.ts";

function event(id: string, topic = "t", data = id): HubEvent {
  return { id, topic, event: "chat", data };
}

Deno.test("MemoryHistory.replay() returns the events after the id, oldest first", () => {
  const history = new MemoryHistory({ size: 10 });
  for (let i = 1; i <= 5; i++) history.record(event(`${i}-0`));
  const plan = history.replay(["t"], "2-0");
  assert.deepEqual(plan.events.map((e) => e.id), ["3-0", "4-0", "5-0"]);
  assert.equal(plan.reset, null);
});

Deno.test("MemoryHistory.replay() from the newest id returns nothing and no reset", () => {
  const history = new MemoryHistory({ size: 10 });
  history.record(event("1-0"));
  assert.deepEqual(history.replay(["t"], "1-0"), { events: [], reset: null });
});

Deno.test("MemoryHistory.replay() merges several topics in id order", () => {
  const history = new MemoryHistory({ size: 10 });
  history.record(event("1-0", "a"));
  history.record(event("2-0", "b"));
  history.record(event("3-0", "a"));
  history.record(event("4-0", "c"));
  const plan = history.replay(["a", "b"], "1-0");
  assert.deepEqual(plan.events.map((e) => e.id), ["2-0", "3-0"]);
  assert.equal(plan.reset, null);
});

Deno.test("MemoryHistory.replay() reports history-exceeded for an id older than the retained tail", () => {
  const history = new MemoryHistory({ size: 3 });
  for (let i = 1; i <= 6; i++) history.record(event(`${i}-0`));
  const plan = history.replay(["t"], "2-0");
  assert.deepEqual(plan.events.map((e) => e.id), ["4-0", "5-0", "6-0"]);
  assert.deepEqual(plan.reset, { reason: "history-exceeded", topics: ["t"] });
  // From the last evicted id on, nothing is missing.
  assert.equal(history.replay(["t"], "3-0").reset, null);
});

Deno.test("MemoryHistory.replay() reports unknown-id with no events for an id it cannot read", () => {
  const history = new MemoryHistory({ size: 3 });
  history.record(event("1-0"));
  assert.deepEqual(history.replay(["t", "u"], "nonsense"), {
    events: [],
    reset: { reason: "unknown-id", topics: ["t", "u"] },
  });
});

Deno.test("MemoryHistory.replay() reports history-exceeded for an id before the isolate's horizon", () => {
  const history = new MemoryHistory({ size: 10, horizon: () => "100-0" });
  history.record(event("150-0"));
  const plan = history.replay(["t"], "50-0");
  assert.deepEqual(plan.reset, { reason: "history-exceeded", topics: ["t"] });
  assert.deepEqual(plan.events.map((e) => e.id), ["150-0"]);
  assert.equal(history.replay(["t"], "120-0").reset, null);
});

Deno.test("MemoryHistory with size 0 keeps nothing and reports every gap", () => {
  const history = new MemoryHistory({ size: 0 });
  history.record(event("1-0"));
  history.record(event("2-0"));
  assert.deepEqual(history.replay(["t"], "1-0"), {
    events: [],
    reset: { reason: "history-exceeded", topics: ["t"] },
  });
  assert.equal(history.replay(["t"], "2-0").reset, null);
});

Deno.test("MemoryHistory keeps a late event in id order", () => {
  const history = new MemoryHistory({ size: 10 });
  history.record(event("1-0"));
  history.record(event("3-0"));
  history.record(event("2-0"));
  assert.deepEqual(history.replay(["t"], "0-1").events.map((e) => e.id), [
    "1-0",
    "2-0",
    "3-0",
  ]);
});

Deno.test("MemoryHistory stays within maxBytes under a flood of one-off topics, and says what it forgot", () => {
  const history = new MemoryHistory({ size: 100, maxBytes: 100_000 });
  history.record(event("1-0", "keep"));
  for (let i = 2; i < 20_000; i++) {
    history.record(event(`${i}-0`, `flood-${i}`, "x".repeat(100)));
  }
  assert.ok(history.bytes <= 100_000, `bytes ${history.bytes}`);
  assert.ok(history.topicCount < 1000, `topics ${history.topicCount}`);
  assert.equal(
    history.replay(["keep"], "1-0").reset?.reason,
    "history-exceeded",
  );
});

Deno.test("MemoryHistory evicts the oldest events of a topic past its size, over many rounds", () => {
  const history = new MemoryHistory({ size: 1000 });
  for (let i = 1; i <= 50_000; i++) history.record(event(`${i}-0`));
  const plan = history.replay(["t"], "48999-0");
  assert.equal(plan.events.length, 1000);
  assert.equal(plan.events[0]!.id, "49001-0");
  assert.equal(plan.events.at(-1)!.id, "50000-0");
  assert.equal(plan.reset?.reason, "history-exceeded");
  assert.equal(history.replay(["t"], "49000-0").reset, null);
});

Deno.test("MemoryHistory keeps a late event in order in a full ring that has wrapped, and drops one older than its oldest", () => {
  const history = new MemoryHistory({ size: 4 });
  for (const ms of [1, 2, 3, 5, 6, 8]) history.record(event(`${ms}-0`));
  history.record(event("7-0"));
  assert.deepEqual(history.replay(["t"], "0-0").events.map((e) => e.id), [
    "5-0",
    "6-0",
    "7-0",
    "8-0",
  ]);
  history.record(event("4-0"));
  const plan = history.replay(["t"], "3-0");
  assert.deepEqual(plan.events.map((e) => e.id), ["5-0", "6-0", "7-0", "8-0"]);
  // 4-0 came and went: a client that has 3-0 missed it.
  assert.deepEqual(plan.reset, { reason: "history-exceeded", topics: ["t"] });
  assert.equal(history.replay(["t"], "4-0").reset, null);
});

Deno.test("MemoryHistory gives the bytes of evicted events back: one topic's count stays at its last events' size", () => {
  const history = new MemoryHistory({ size: 3 });
  history.record(event("1-0", "t", "x".repeat(1000)));
  const one = history.bytes;
  for (let i = 2; i <= 5000; i++) {
    history.record(event(`${i}-0`, "t", "x".repeat(1000)));
  }
  // Three entries of the same size and a ring of three slots, whatever came before.
  assert.ok(history.bytes < 3 * one, `bytes ${history.bytes}, one ${one}`);
  assert.ok(history.bytes > 2 * one, `bytes ${history.bytes}, one ${one}`);
});

Deno.test("MemoryHistory.replay() answers as a sorted list trimmed to the size would, for any order of arrival", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 60 }),
      fc.integer({ min: 0, max: 41 }),
      (size, arrivals, from) => {
        const history = new MemoryHistory({ size });
        // The model: every id in order, the oldest dropped past the size.
        let kept: number[] = [];
        let evicted = 0;
        const seen = new Set<number>();
        for (const ms of arrivals) {
          if (seen.has(ms)) continue;
          seen.add(ms);
          history.record(event(`${ms}-0`));
          kept = [...kept, ms].sort((a, b) => a - b);
          if (kept.length > size) evicted = Math.max(evicted, kept.shift()!);
        }
        const plan = history.replay(["t"], `${from}-0`);
        assert.deepEqual(
          plan.events.map((e) => e.id),
          kept.filter((ms) => ms > from).map((ms) => `${ms}-0`),
        );
        assert.equal(plan.reset === null, from >= evicted);
      },
    ),
    { seed: 20261202, numRuns: 300 },
  );
});
