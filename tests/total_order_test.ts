import assert from "node:assert/strict";
import fc from "fast-check";
import type { HubEvent } from "../lib/bus.ts";
import { compareIds, formatId, parseId } from "../lib/event_id.ts";
import { HybridClock } from "../lib/hybrid_clock.ts";
import { TotalOrder } from "../engines/memory/total_order.ts";

/** A simulated isolate: a clock, a TotalOrder, and FIFO inboxes from each peer. */
interface Node {
  name: string;
  clock: HybridClock;
  order: TotalOrder;
  delivered: string[];
}

type Wire = { kind: "event"; event: HubEvent } | {
  kind: "clock";
  clock: string;
};

/**
 * Runs `script` (which node publishes when, and which channel delivers next)
 * over FIFO channels between every pair of nodes, then checks that every node
 * delivered the same events in the same, increasing order.
 */
function simulate(
  names: string[],
  steps: Array<{ publish: boolean; node: number; pick: number; tick: number }>,
) {
  let wall = 1000;
  const nodes: Node[] = names.map((name) => {
    const delivered: string[] = [];
    return {
      name,
      clock: new HybridClock(name, { now: () => wall }),
      order: new TotalOrder((e) => delivered.push(e.id)),
      delivered,
    };
  });
  // Every node starts knowing every other one at clock zero (as after joining).
  for (const node of nodes) {
    for (const peer of nodes) {
      if (peer !== node) {
        node.order.heard(peer.name, { ms: 0, seq: 0, instance: "" }, 0);
      }
    }
  }
  const channels = new Map<string, Wire[]>();
  const send = (from: Node, message: Wire) => {
    for (const to of nodes) {
      if (to === from) continue;
      const key = `${from.name}>${to.name}`;
      channels.set(key, [...(channels.get(key) ?? []), message]);
    }
  };
  let published = 0;
  const deliverOne = (pick: number): boolean => {
    const busy = [...channels.entries()].filter(([, queue]) =>
      queue.length > 0
    );
    if (busy.length === 0) return false;
    const [key, queue] = busy[pick % busy.length]!;
    const message = queue.shift()!;
    const [from, to] = key.split(">");
    const node = nodes.find((n) => n.name === to)!;
    if (message.kind === "event") {
      const id = parseId(message.event.id)!;
      node.clock.observe(id);
      node.order.remote(from!, id, message.event, 0);
      send(node, { kind: "clock", clock: formatId(node.clock.current) });
    } else {
      node.order.heard(from!, parseId(message.clock)!, 0);
    }
    return true;
  };
  for (const step of steps) {
    wall += step.tick;
    if (step.publish) {
      const node = nodes[step.node % nodes.length]!;
      const id = node.clock.next();
      const event: HubEvent = {
        id: formatId(id),
        topic: "t",
        event: "chat",
        data: String(published++),
      };
      send(node, { kind: "event", event });
      node.order.local(id, event);
    } else {
      deliverOne(step.pick);
    }
  }
  while (deliverOne(0));
  return { nodes, published };
}

Deno.test("TotalOrder delivers the same events in the same increasing order on every isolate", () => {
  const step = fc.record({
    publish: fc.boolean(),
    node: fc.nat(10),
    pick: fc.nat(100),
    tick: fc.constantFrom(0, 0, 0, 1, -1, 3),
  });
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 4 }),
      fc.array(step, { maxLength: 120 }),
      (count, steps) => {
        const { nodes, published } = simulate(
          ["a", "b", "c", "d"].slice(0, count),
          steps,
        );
        const first = nodes[0]!.delivered;
        assert.equal(first.length, published, "every event delivered once");
        assert.equal(new Set(first).size, published, "no duplicates");
        for (let i = 1; i < first.length; i++) {
          assert.ok(
            compareIds(parseId(first[i - 1]!)!, parseId(first[i]!)!) < 0,
            "increasing ids",
          );
        }
        for (const node of nodes) {
          assert.deepEqual(
            node.delivered,
            first,
            `${node.name} agrees`,
          );
        }
      },
    ),
    { seed: 424242, numRuns: 300 },
  );
});

Deno.test("TotalOrder holds a local event until every peer's watermark passes it", () => {
  const seen: string[] = [];
  const order = new TotalOrder((e) => seen.push(e.id));
  order.heard("b", { ms: 1, seq: 0, instance: "b" }, 0);
  order.heard("c", { ms: 1, seq: 0, instance: "c" }, 0);
  order.local({ ms: 2, seq: 0, instance: "a" }, {
    id: "2-0-a",
    topic: "t",
    event: "chat",
    data: "",
  });
  order.heard("b", { ms: 3, seq: 0, instance: "b" }, 0);
  assert.deepEqual(seen, []);
  order.heard("c", { ms: 2, seq: 0, instance: "a" }, 0);
  assert.deepEqual(seen, ["2-0-a"]);
});

Deno.test("TotalOrder.expire() stops waiting for a silent peer", () => {
  const seen: string[] = [];
  const order = new TotalOrder((e) => seen.push(e.id));
  order.heard("b", { ms: 1, seq: 0, instance: "b" }, 100);
  order.local({ ms: 2, seq: 0, instance: "a" }, {
    id: "2-0-a",
    topic: "t",
    event: "chat",
    data: "",
  });
  assert.deepEqual(order.expire(50), []);
  assert.deepEqual(seen, []);
  assert.deepEqual(order.expire(101), ["b"]);
  assert.deepEqual(seen, ["2-0-a"]);
});

Deno.test("TotalOrder delivers a late event at once and counts it", () => {
  const seen: string[] = [];
  const order = new TotalOrder((e) => seen.push(e.id));
  order.local({ ms: 5, seq: 0, instance: "a" }, {
    id: "5-0-a",
    topic: "t",
    event: "chat",
    data: "",
  });
  order.remote("b", { ms: 4, seq: 0, instance: "b" }, {
    id: "4-0-b",
    topic: "t",
    event: "chat",
    data: "",
  }, 0);
  assert.deepEqual(seen, ["5-0-a", "4-0-b"]);
  assert.equal(order.late, 1);
});
