/** The kv engine's own edges: ids, the value limit, retention floors, age. */
import assert from "node:assert/strict";
import { compareIdText, parseId } from "../lib/event_id.ts";
import { Hub } from "../lib/hub.ts";
import { openTestKvEngine, tempKvFile } from "./_kv.ts";

function draft(topic: string, data: string) {
  return { topic, event: "chat", data: JSON.stringify(data) };
}

Deno.test("parseId() reads a versionstamp; versionstamps order by their digits, before every clock id, never in the future", () => {
  const stamp = parseId("00000000000000050000");
  assert.deepEqual(stamp, {
    ms: 0,
    seq: 0,
    node: "",
    stamp: "00000000000000050000",
  });
  assert.ok(
    compareIdText("00000000000000050000", "000000000000000a0000") < 0,
  );
  assert.ok(compareIdText("ffffffffffffffffffff", "1-0") < 0);
  assert.equal(parseId("0000000000000005000"), null, "19 digits");
  assert.equal(parseId("0000000000000005000G"), null, "not hex");
});

Deno.test("KvBus.publish() refuses an event above Deno KV's value limit and writes nothing", async () => {
  await using file = await tempKvFile();
  await using engine = await openTestKvEngine(file.path);
  const first = await engine.bus.publish(draft("t", "small"));
  await assert.rejects(
    () => engine.bus.publish(draft("t", "x".repeat(40_000))),
    /Cannot publish: the event takes up to \d+ bytes, above Deno KV's value limit of 65536/,
  );
  assert.deepEqual(await engine.history.replay(["t"], first.id), {
    events: [],
    reset: null,
  });
});

Deno.test("KvHistory.replay() answers unknown-id for an id that is not a versionstamp", async () => {
  await using file = await tempKvFile();
  await using engine = await openTestKvEngine(file.path);
  await engine.bus.publish(draft("t", "one"));
  assert.deepEqual(await engine.history.replay(["t"], "1700000000000-0-abc"), {
    events: [],
    reset: { reason: "unknown-id", topics: ["t"] },
  });
});

Deno.test("kv engine with historyMaxAgeMs trims old events and reports the reset", async () => {
  await using file = await tempKvFile();
  let clock = 1_000_000;
  await using engine = await openTestKvEngine(file.path, {
    historyMaxAgeMs: 60_000,
    now: () => clock,
  });
  const old = await engine.bus.publish(draft("t", "old"));
  clock += 30_000;
  const newer = await engine.bus.publish(draft("t", "newer"));
  clock += 40_000;
  await engine.trim();
  assert.deepEqual(await engine.history.replay(["t"], old.id), {
    events: [newer],
    reset: null,
  }, "the trimmed event was seen: nothing lost");
  assert.deepEqual(
    (await engine.history.replay(["t"], "00000000000000000000")).reset,
    { reason: "history-exceeded", topics: ["t"] },
  );
});

Deno.test("Hub on the kv engine replays a versionstamp Last-Event-ID instead of taking it for a future id", async () => {
  await using file = await tempKvFile();
  await using engine = await openTestKvEngine(file.path);
  const hub = new Hub(engine.bus, engine.history, {
    heartbeatMs: 0,
    updateIntervalMs: 0,
  });
  const first = await hub.publish({ message: "a", topic: "t", event: "chat" });
  const second = await hub.publish({ message: "b", topic: "t", event: "chat" });
  const reader = hub.subscribe(["t"], first.id).pipeThrough(
    new TextDecoderStream(),
  ).getReader();
  let text = "";
  while (!text.includes(`id: ${second.id}`)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  await reader.cancel();
  await hub.close();
  assert.ok(!text.includes("event: reset"), text);
  assert.ok(text.includes(`id: ${second.id}`), text);
});

Deno.test("KvTrimmer goes on past one batch of deletes in the next round, with no new publish", async () => {
  await using file = await tempKvFile();
  await using engine = await openTestKvEngine(file.path, { historySize: 1 });
  const published = [];
  for (let i = 0; i < 520; i++) {
    published.push(await engine.bus.publish(draft("t", `${i}`)));
  }
  await engine.trim();
  assert.equal(
    (await engine.history.replay(["t"], published[0]!.id)).events.length,
    19,
    "the first round deletes one batch of 500",
  );
  await engine.trim();
  assert.deepEqual(await engine.history.replay(["t"], published[0]!.id), {
    events: [published[519]],
    reset: { reason: "history-exceeded", topics: ["t"] },
  });
});
