/**
 * The history's byte budget bounds the memory it really holds: a publisher
 * that floods several topics with big events cannot make a real process keep
 * more than HISTORY_MAX_BYTES (plus a small constant) in its live heap, as
 * measured after a full GC. Before the ring buffer, a topic's ring kept up to
 * 1,024 evicted events reachable without counting them: this run then held
 * about 70 MiB live while the history counted 10 MB.
 */
import assert from "node:assert/strict";
import { gcMemory, startGcServer } from "./_gc_server.ts";

const TOPICS = 8;
const PER_TOPIC = 150;
const MESSAGE = "x".repeat(60_000);
const BUDGET_MIB = 16;
/** Events kept per topic: 8 × 10 of them count about 10 MB, within the budget. */
const HISTORY_SIZE = 10;
/** Room for what the process allocates besides the history (pools, caches). */
const SLACK_MIB = 8;

/**
 * Publishes `count` events round-robin over the topics, 4 requests at a
 * time; returns the ids given to topic `flood-0`, in order.
 */
async function flood(url: string, count: number): Promise<string[]> {
  const ids: Array<[number, string]> = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const response = await fetch(`${url}/message`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          topic: `flood-${i % TOPICS}`,
          message: MESSAGE,
        }),
      });
      assert.equal(response.status, 202, `publish ${i}`);
      const { id } = await response.json();
      if (i % TOPICS === 0) ids.push([i, id]);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return ids.sort((a, b) => a[0] - b[0]).map(([, id]) => id);
}

Deno.test("eight topics of 60 KB events keep the live heap within HISTORY_MAX_BYTES plus a small constant", async () => {
  await using server = await startGcServer({
    HISTORY_MAX_BYTES: String(BUDGET_MIB * 1024 * 1024),
    HISTORY_SIZE: String(HISTORY_SIZE),
  });
  // Warm up the publish path with one small event, then measure from there.
  await flood(server.url, 1);
  const baseline = await gcMemory(server.url);
  const ids = await flood(server.url, TOPICS * PER_TOPIC);
  const after = await gcMemory(server.url);
  const growth = after.heapUsed - baseline.heapUsed;
  assert.ok(
    growth < BUDGET_MIB + SLACK_MIB,
    `live heap grew by ${growth.toFixed(1)} MiB after ${
      TOPICS * PER_TOPIC
    } events of 60 KB under a ${BUDGET_MIB} MiB budget`,
  );
  // The history still works: the newest event of a topic is replayed.
  const replay = await fetch(
    `${server.url}/events?topic=flood-0`,
    { headers: { "Last-Event-ID": ids.at(-2)! } },
  );
  const reader = replay.body!.getReader();
  try {
    let text = "";
    while (!text.includes("replaying")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    assert.match(text, /replaying 1 missed events/);
    assert.doesNotMatch(text, /event: reset/);
  } finally {
    await reader.cancel();
  }
});
