/** The kv engine's own edges: ids, the value limit, retention floors, age, losses, presence. */
import assert from "node:assert/strict";
import { DuplicateKeyError } from "../lib/bus.ts";
import { compareIdText, parseId } from "../lib/event_id.ts";
import { Hub } from "../lib/hub.ts";
import { silentLogger } from "../lib/log.ts";
import { KvBus } from "../engines/kv/bus.ts";
import { KvKeys } from "../engines/kv/keys.ts";
import { KvPresence } from "../engines/kv/presence.ts";
import { openTestKvEngine, tempKvFile } from "./_kv.ts";
import { eventually } from "./_server.ts";

function draft(topic: string, data: string) {
  return { topic, event: "chat", data: JSON.stringify(data) };
}

Deno.test("parseId() reads a versionstamp; versionstamps order by their digits, before every clock id, never in the future", () => {
  const stamp = parseId("00000000000000050000");
  assert.deepEqual(stamp, {
    ms: 0,
    seq: 0,
    instance: "",
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
    120,
    "the first round deletes one batch of 400, oldest first",
  );
  await engine.trim();
  assert.deepEqual(await engine.history.replay(["t"], published[0]!.id), {
    events: [published[519]],
    reset: { reason: "history-exceeded", topics: ["t"] },
  });
});

Deno.test("KvBus claims a unique key in the publish's commit, refuses it while the log holds it, and frees it when trimmed", async () => {
  await using file = await tempKvFile();
  await using engine = await openTestKvEngine(file.path, {
    historySize: 10,
    logSize: 1,
  });
  await engine.bus.publish(draft("t", "first"), { unique: "urn:a" });
  await assert.rejects(
    engine.bus.publish(draft("u", "again"), { unique: "urn:a" }),
    DuplicateKeyError,
  );
  await engine.bus.publish(draft("t", "other"), { unique: "urn:b" });
  // The log keeps one entry: urn:a's goes, and its claim with it.
  await engine.trim();
  await engine.bus.publish(draft("t", "reused"), { unique: "urn:a" });
  await assert.rejects(
    engine.bus.publish(draft("t", "still held"), { unique: "urn:a" }),
    DuplicateKeyError,
  );
});

Deno.test("KvBus reports log-trimmed before delivering when the log was trimmed past its cursor", async () => {
  await using file = await tempKvFile();
  await using engine = await openTestKvEngine(file.path, {
    historySize: 1,
    logSize: 1,
  });
  const published = [];
  for (let i = 0; i < 3; i++) {
    published.push(await engine.bus.publish(draft("t", `${i}`)));
  }
  await engine.trim();
  // A follower that last delivered the first event, as after a long stall.
  const kv = await Deno.openKv(file.path);
  const keys = new KvKeys();
  const lagging = new KvBus(kv, {
    instance: "lagging",
    keys,
    pollMs: 10,
    presence: new KvPresence(kv, keys, {
      instance: "lagging",
      intervalMs: 1000,
      ttlMs: 5000,
      onError: () => {},
    }),
    start: published[0]!.id,
    logger: silentLogger,
    now: Date.now,
  });
  const seen: string[] = [];
  lagging.onLoss((loss) => seen.push(`loss:${loss.reason}:${loss.topics}`));
  lagging.subscribe((event) => seen.push(event.id));
  await eventually(() => seen.length >= 2, 5000, "the loss and the event");
  await lagging.close();
  kv.close();
  assert.deepEqual(seen, ["loss:log-trimmed:null", published[2]!.id]);
});

Deno.test("KvPresence leaves out an instance whose entry is older than its lifetime", async () => {
  await using file = await tempKvFile();
  await using engine = await openTestKvEngine(file.path);
  const kv = await Deno.openKv(file.path);
  const keys = new KvKeys();
  await kv.set([...keys.presence, "dead"], {
    clients: 7,
    at: Date.now() - 60_000,
  });
  await kv.set([...keys.presence, "alive"], { clients: 2, at: Date.now() });
  kv.close();
  engine.bus.reportClients(1);
  await eventually(
    () => engine.bus.presence().instances === 2,
    5000,
    "the live peer",
  );
  assert.deepEqual(engine.bus.presence(), { clients: 3, instances: 2 });
});

Deno.test("kv engine carries the private flag through the log and the topic keys unchanged", async () => {
  await using file = await tempKvFile();
  await using engine = await openTestKvEngine(file.path);
  const seen: unknown[] = [];
  engine.bus.subscribe((event) => seen.push(event));
  const before = await engine.bus.publish(draft("t", "public"));
  const secret = await engine.bus.publish({
    ...draft("t", "secret"),
    private: true,
  });
  assert.equal(secret.private, true);
  await eventually(() => seen.length >= 2, 5000, "both events");
  assert.deepEqual(seen[1], secret);
  assert.deepEqual(await engine.history.replay(["t"], before.id), {
    events: [secret],
    reset: null,
  });
});

/** What the file holds under the default prefix: topics listed, stored events and counters. */
async function stored(path: string): Promise<{
  topics: string[];
  events: Record<string, number>;
  counts: Record<string, number>;
  allBytes: number;
  log: number;
  logBytes: number;
}> {
  const kv = await Deno.openKv(path);
  const keys = new KvKeys();
  const topics: string[] = [];
  for await (const entry of kv.list({ prefix: keys.topics })) {
    topics.push(String(entry.key.at(-1)));
  }
  const events: Record<string, number> = {};
  for await (const entry of kv.list({ prefix: ["herald", "topic"] })) {
    const topic = String(entry.key.at(-2));
    events[topic] = (events[topic] ?? 0) + 1;
  }
  const counts: Record<string, number> = {};
  for await (
    const entry of kv.list<Deno.KvU64>({ prefix: ["herald", "count"] })
  ) {
    counts[String(entry.key.at(-1))] = Number(entry.value.value);
  }
  const all = await kv.get<Deno.KvU64>(keys.allBytes);
  const logBytes = await kv.get<Deno.KvU64>(keys.logBytes);
  let log = 0;
  for await (const _ of kv.list({ prefix: keys.log })) log++;
  kv.close();
  return {
    topics,
    events,
    counts,
    allBytes: Number(all.value?.value ?? 0),
    log,
    logBytes: Number(logBytes.value?.value ?? 0),
  };
}

Deno.test("KvTrimmer removes a topic from the topic list with its last event, and a replay from before it reports the reset", async () => {
  await using file = await tempKvFile();
  let clock = 1_000_000;
  await using engine = await openTestKvEngine(file.path, {
    historyMaxAgeMs: 60_000,
    now: () => clock,
  });
  const once = await engine.bus.publish(draft("one-off", "gone soon"));
  clock += 30_000;
  const kept = await engine.bus.publish(draft("t", "kept"));
  clock += 40_000;
  await engine.trim();
  const after = await stored(file.path);
  assert.deepEqual(after.topics, ["t"], "the aged-out topic left the list");
  assert.deepEqual(after.events, { t: 1 });
  assert.deepEqual(after.counts, { t: 1 });
  assert.deepEqual(await engine.history.replay(["one-off"], once.id), {
    events: [],
    reset: null,
  }, "a stream that saw the last event missed nothing");
  assert.deepEqual(
    (await engine.history.replay(["one-off", "t"], "00000000000000000000"))
      .reset,
    { reason: "history-exceeded", topics: ["one-off", "t"] },
  );
  assert.deepEqual(
    (await engine.history.replay(["t"], once.id)).events,
    [kept],
  );
});

Deno.test("KvTrimmer keeps all topics within historyMaxBytes by removing the least recently published topics first", async () => {
  await using file = await tempKvFile();
  await using engine = await openTestKvEngine(file.path, {
    historyMaxBytes: 4000,
  });
  const published = [];
  for (let i = 0; i < 40; i++) {
    published.push(
      await engine.bus.publish(draft(`one-off-${i}`, "x".repeat(50))),
    );
  }
  const before = await stored(file.path);
  assert.equal(before.topics.length, 40);
  assert.ok(before.allBytes > 4000, `${before.allBytes} bytes held`);
  await engine.trim();
  const after = await stored(file.path);
  assert.ok(after.allBytes <= 4000, `${after.allBytes} bytes held`);
  assert.ok(after.topics.length > 0 && after.topics.length < 40);
  const newest = published.slice(-after.topics.length).map((e) => e.topic);
  assert.deepEqual(
    after.topics.sort(),
    newest.sort(),
    "the newest topics stay",
  );
  assert.equal(Object.keys(after.events).length, after.topics.length);
  assert.deepEqual(
    (await engine.history.replay(["one-off-0"], "00000000000000000000")).reset,
    { reason: "history-exceeded", topics: ["one-off-0"] },
  );
  const last = published.at(-1)!;
  assert.deepEqual(
    await engine.history.replay([last.topic], published.at(-2)!.id),
    { events: [last], reset: null },
  );
});

Deno.test("KvTrimmer trims the oldest events of a lone topic over historyMaxBytes, and counts what it holds exactly", async () => {
  await using file = await tempKvFile();
  await using engine = await openTestKvEngine(file.path, {
    historyMaxBytes: 2000,
  });
  const published = [];
  for (let i = 0; i < 30; i++) {
    published.push(await engine.bus.publish(draft("t", "y".repeat(40))));
  }
  await engine.trim();
  const after = await stored(file.path);
  assert.ok(after.allBytes <= 2000, `${after.allBytes} bytes held`);
  assert.deepEqual(after.topics, ["t"]);
  const held = after.events.t ?? 0;
  assert.ok(held > 0 && held < 30, `${held} events held`);
  assert.deepEqual(after.counts, { t: held }, "the counter matches the keys");
  assert.ok(after.logBytes <= 2000, `${after.logBytes} bytes in the log`);
  assert.equal(after.log, held, "the log keeps as many as the topic");
  const plan = await engine.history.replay(["t"], published[0]!.id);
  assert.deepEqual(plan.events, published.slice(-held));
  assert.deepEqual(plan.reset, { reason: "history-exceeded", topics: ["t"] });
});

Deno.test("KvTrimmer removes a least recently published topic of more than one batch whole before the next topic", async () => {
  await using file = await tempKvFile();
  await using engine = await openTestKvEngine(file.path, {
    historyMaxBytes: 45_000,
  });
  for (let i = 0; i < 600; i++) {
    await engine.bus.publish(draft("big", `${i}`));
  }
  const small = await engine.bus.publish(draft("small", "z".repeat(10_000)));
  const newest = await engine.bus.publish(draft("newest", "z".repeat(10_000)));
  await engine.trim();
  const after = await stored(file.path);
  assert.deepEqual(after.topics.sort(), ["newest", "small"]);
  assert.deepEqual(after.events, { newest: 1, small: 1 });
  assert.deepEqual(
    (await engine.history.replay(["small", "newest"], small.id)).events,
    [newest],
  );
});
