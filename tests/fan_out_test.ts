import assert from "node:assert/strict";
import fc from "fast-check";
import { type EventId, formatId } from "../lib/event_id.ts";
import { BURST, FanOut } from "../lib/fan_out.ts";
import { Subscriber } from "../lib/subscriber.ts";

const encoder = new TextEncoder();

function frame(id: EventId, topic: string): Uint8Array {
  return encoder.encode(`event: chat\nid: ${formatId(id)}\ndata: ${topic}\n\n`);
}

/** Ends the subscriber and returns every chunk it had queued, as text. */
async function chunksOf(subscriber: Subscriber): Promise<string[]> {
  subscriber.end();
  const chunks: string[] = [];
  for await (const chunk of subscriber.stream) {
    chunks.push(new TextDecoder().decode(chunk));
  }
  return chunks;
}

function idsIn(text: string): string[] {
  return [...text.matchAll(/^id: (.*)$/gm)].map((m) => m[1]!);
}

function index(subscribers: Subscriber[]): Map<string, Set<Subscriber>> {
  const topics = new Map<string, Set<Subscriber>>();
  for (const subscriber of subscribers) {
    for (const topic of subscriber.topics) {
      if (!topics.has(topic)) topics.set(topic, new Set());
      topics.get(topic)!.add(subscriber);
    }
  }
  return topics;
}

Deno.test("FanOut sends the first BURST events at once and joins the rest of a burst into one chunk", async () => {
  let now = 1000;
  const subscriber = new Subscriber(["a"]);
  const fanOut = new FanOut(index([subscriber]), {
    coalesceMs: 5,
    now: () => now,
  });
  fanOut.send(
    "a",
    { ms: 1, seq: 0, instance: "" },
    frame({ ms: 1, seq: 0, instance: "" }, "a"),
  );
  for (let seq = 1; seq <= 50; seq++) {
    now += 0.01;
    fanOut.send(
      "a",
      { ms: 1, seq, instance: "" },
      frame({ ms: 1, seq, instance: "" }, "a"),
    );
  }
  fanOut.flush();
  const chunks = await chunksOf(subscriber);
  assert.equal(
    chunks.length,
    BURST + 1,
    "a chunk each for the saved-up tokens, then one for the rest",
  );
  assert.equal(idsIn(chunks.join("")).length, 51);
});

Deno.test("FanOut sends every event at once when coalesceMs is 0", async () => {
  const subscriber = new Subscriber(["a"]);
  const fanOut = new FanOut(index([subscriber]), {
    coalesceMs: 0,
    now: () => 5,
  });
  for (let seq = 0; seq < 10; seq++) {
    fanOut.send(
      "a",
      { ms: 1, seq, instance: "" },
      frame({ ms: 1, seq, instance: "" }, "a"),
    );
  }
  assert.equal((await chunksOf(subscriber)).length, 10);
  fanOut.close();
});

Deno.test("FanOut flushes a burst on its timer", async () => {
  const subscriber = new Subscriber(["a"]);
  const fanOut = new FanOut(index([subscriber]), { coalesceMs: 5 });
  for (let seq = 0; seq < 5; seq++) {
    fanOut.send(
      "a",
      { ms: 1, seq, instance: "" },
      frame({ ms: 1, seq, instance: "" }, "a"),
    );
  }
  const reader = subscriber.stream.getReader();
  let text = "";
  while (idsIn(text).length < 5) {
    text += new TextDecoder().decode((await reader.read()).value);
  }
  assert.equal(idsIn(text).length, 5);
  await reader.cancel();
  fanOut.close();
});

Deno.test("FanOut keeps every stream's events exactly, in arrival order, whatever the topics and bursts", async () => {
  const topicNames = ["a", "b", "c"];
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.subarray(topicNames, { minLength: 1 }), {
        minLength: 1,
        maxLength: 6,
      }),
      fc.array(
        fc.record({
          topic: fc.constantFrom(...topicNames),
          gap: fc.constantFrom(0, 0.5, 2, 7),
        }),
        {
          maxLength: 60,
        },
      ),
      async (follows, events) => {
        let now = 0;
        const subscribers = follows.map((topics) => new Subscriber(topics));
        const fanOut = new FanOut(index(subscribers), {
          coalesceMs: 5,
          now: () => now,
        });
        const sent: Array<{ topic: string; id: string }> = [];
        events.forEach(({ topic, gap }, seq) => {
          now += gap;
          if (gap > 5) fanOut.flush(); // as the timer would have
          const id = { ms: 1, seq, instance: "" };
          sent.push({ topic, id: formatId(id) });
          fanOut.send(topic, id, frame(id, topic));
        });
        fanOut.flush();
        for (const subscriber of subscribers) {
          const expected = sent.filter((e) =>
            subscriber.topics.includes(e.topic)
          ).map((e) => e.id);
          assert.deepEqual(
            idsIn((await chunksOf(subscriber)).join("")),
            expected,
          );
        }
      },
    ),
    { seed: 20261130, numRuns: 200 },
  );
});

Deno.test("FanOut sends events at the window's pace at once, and batches only past it", async () => {
  let now = 0;
  const subscriber = new Subscriber(["a"]);
  const fanOut = new FanOut(index([subscriber]), {
    coalesceMs: 20,
    now: () => now,
  });
  // One event per window, with jitter: every one goes out at once.
  for (let seq = 0; seq < 20; seq++) {
    now += seq % 2 === 0 ? 15 : 25;
    fanOut.send(
      "a",
      { ms: 1, seq, instance: "" },
      frame({ ms: 1, seq, instance: "" }, "a"),
    );
  }
  assert.equal((await chunksOf(subscriber)).length, 20);
  fanOut.close();
});

function privateIndex(subscribers: Subscriber[]): Map<string, Set<Subscriber>> {
  const topics = new Map<string, Set<Subscriber>>();
  for (const subscriber of subscribers) {
    for (const topic of subscriber.privateTopics) {
      if (!topics.has(topic)) topics.set(topic, new Set());
      topics.get(topic)!.add(subscriber);
    }
  }
  return topics;
}

Deno.test("FanOut sends private events, at once and in joined batches, only to the permitted subscribers, in order", async () => {
  let now = 1000;
  const allowedA = new Subscriber(["a"], { privateTopics: new Set(["a"]) });
  const publicA = new Subscriber(["a"]);
  const allowedBoth = new Subscriber(["a", "b"], {
    privateTopics: new Set(["a", "b"]),
  });
  const allowedBOnly = new Subscriber(["a", "b"], {
    privateTopics: new Set(["b"]),
  });
  const subscribers = [allowedA, publicA, allowedBoth, allowedBOnly];
  const fanOut = new FanOut(
    index(subscribers),
    { coalesceMs: 5, now: () => now },
    privateIndex(subscribers),
  );
  const sent: Array<{ id: string; topic: string; private: boolean }> = [];
  // 40 events, fast enough that most are joined into batches.
  for (let seq = 0; seq < 40; seq++) {
    const topic = seq % 3 === 0 ? "b" : "a";
    const isPrivate = seq % 2 === 0;
    const id = { ms: 1, seq, instance: "" };
    now += 0.01;
    fanOut.send(topic, id, frame(id, topic), isPrivate);
    sent.push({ id: formatId(id), topic, private: isPrivate });
  }
  fanOut.flush();
  const expected = (subscriber: Subscriber) =>
    sent.filter((e) =>
      subscriber.topics.includes(e.topic) &&
      (!e.private || subscriber.privateTopics.has(e.topic))
    ).map((e) => e.id);
  for (const subscriber of subscribers) {
    const got = idsIn((await chunksOf(subscriber)).join(""));
    assert.deepEqual(got, expected(subscriber), subscriber.topics.join());
  }
});
