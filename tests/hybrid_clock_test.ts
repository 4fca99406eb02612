import assert from "node:assert/strict";
import { compareIds, formatId, parseId } from "../lib/event_id.ts";
import { HybridClock } from "../lib/hybrid_clock.ts";

Deno.test("HybridClock.next() keeps increasing when the wall clock goes backwards", () => {
  let wall = 1000;
  const clock = new HybridClock("a", { now: () => wall });
  const ids = [clock.next()];
  wall = 900;
  ids.push(clock.next(), clock.next());
  wall = 1001;
  ids.push(clock.next());
  for (let i = 1; i < ids.length; i++) {
    assert.ok(compareIds(ids[i - 1]!, ids[i]!) < 0);
  }
  assert.equal(formatId(ids[1]!), "1000-1-a");
  assert.equal(formatId(ids[3]!), "1001-0-a");
});

Deno.test("HybridClock.observe() makes the next id sort after a peer's id, even one from the future", () => {
  const clock = new HybridClock("a", { now: () => 5 });
  clock.observe({ ms: 50, seq: 7, instance: "z" });
  const next = clock.next();
  assert.ok(compareIds(next, { ms: 50, seq: 7, instance: "z" }) > 0);
  assert.equal(formatId(next), "50-8-a");
});

Deno.test("HybridClock refuses a node name that could break the id format", () => {
  assert.throws(() => new HybridClock("a-b"), RangeError);
  assert.throws(() => new HybridClock(""), RangeError);
});

Deno.test("parseId() reads both hub ids and Redis stream ids, and refuses the rest", () => {
  assert.deepEqual(parseId("1-2-ab"), { ms: 1, seq: 2, instance: "ab" });
  assert.deepEqual(parseId("1700000000000-3"), {
    ms: 1700000000000,
    seq: 3,
    instance: "",
  });
  for (
    const bad of [
      "",
      "1",
      "a-1",
      "1-2-",
      "1-2-AB",
      "1-2-a\n",
      "1-2-a\0",
      " 1-2",
      "99999999999999999-0",
    ]
  ) {
    assert.equal(parseId(bad), null, JSON.stringify(bad));
  }
});

Deno.test("compareIds() orders by time, then counter, then node", () => {
  const order = ["1-0", "1-0-a", "1-0-b", "1-1", "2-0"].map((text) =>
    parseId(text)!
  );
  for (let i = 1; i < order.length; i++) {
    assert.ok(compareIds(order[i - 1]!, order[i]!) < 0);
  }
  assert.equal(compareIds(parseId("3-4-x")!, parseId("3-4-x")!), 0);
});
