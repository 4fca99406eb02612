/**
 * Chaos under `start:parallel` (tests/_process.ts picks the server):
 * subscribers that drop and reconnect with Last-Event-ID every moment, while
 * several publishers post at a steady rate to every isolate. Every id is counted: none lost, none twice, none out
 * of order, and no reset. CI runs a few seconds; the soak of issue 17 is
 * CHAOS_SECONDS=60 CHAOS_SUBSCRIBERS=50 CHAOS_RATE=200 CHAOS_MIN_MS=1000 CHAOS_MAX_MS=3000 deno task test tests/chaos_test.ts
 * (CHAOS_REPORT=file.json writes the counts).
 */
import assert from "node:assert/strict";
import { compareIdText } from "../lib/event_id.ts";
import { startHerald } from "./_process.ts";
import { SseClient } from "./_sse_client.ts";

const env = (name: string, fallback: number) =>
  Number(Deno.env.get(name) ?? fallback);
const JOBS = 4;
const SECONDS = env("CHAOS_SECONDS", 4);
const SUBSCRIBERS = env("CHAOS_SUBSCRIBERS", 12);
const PUBLISHERS = 4;
/** Publishes per second, per publisher. */
const RATE = env("CHAOS_RATE", 40);
const MIN_MS = env("CHAOS_MIN_MS", 200);
const MAX_MS = env("CHAOS_MAX_MS", 700);

interface Tally {
  ids: string[];
  resets: number;
  connects: number;
}

/** One subscriber: connects, reads for a random while, drops, resumes by id. */
async function subscriber(
  url: string,
  until: () => boolean,
  tally: Tally,
): Promise<void> {
  while (!until()) {
    const last = tally.ids.at(-1);
    const client = await SseClient.open(`${url}/events`, {
      headers: last === undefined ? {} : { "last-event-id": last },
    });
    tally.connects++;
    const life = MIN_MS + Math.random() * (MAX_MS - MIN_MS);
    const timer = setTimeout(() => void client.close(), life);
    try {
      while (true) {
        const event = await client.next(60_000);
        if (event.event === "reset") tally.resets++;
        else if (event.id !== undefined) tally.ids.push(event.id);
      }
    } catch {
      // Closed by our timer: reconnect.
    } finally {
      clearTimeout(timer);
      await client.close();
    }
  }
}

async function publisher(
  url: string,
  stopAt: number,
  p: number,
): Promise<string[]> {
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  const ids: string[] = [];
  try {
    for (let i = 0; Date.now() < stopAt; i++) {
      const next = Date.now() + 1000 / RATE;
      const response = await fetch(`${url}/message`, {
        method: "POST",
        client,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ message: `p${p}-${i}` }),
      });
      assert.equal(response.status, 202, await response.clone().text());
      ids.push((await response.json()).id);
      const wait = next - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    return ids;
  } finally {
    client.close();
  }
}

Deno.test(`chaos: ${SUBSCRIBERS} subscribers reconnecting every ${MIN_MS}-${MAX_MS} ms, ${PUBLISHERS} publishers at ${RATE}/s each, ${JOBS} isolates, ${SECONDS} s: every id once, in order, no reset`, async () => {
  await using herald = await startHerald({ jobs: JOBS });
  const tallies: Tally[] = Array.from(
    { length: SUBSCRIBERS },
    () => ({ ids: [], resets: 0, connects: 0 }),
  );
  // A subscriber stops once publishing is over and it holds the last id
  // (or a minute later, and then the assertions say what it missed).
  let last: string | null = null;
  let giveUpAt = Infinity;
  const until = (tally: Tally) =>
    (last !== null && tally.ids.at(-1) === last) || Date.now() > giveUpAt;
  // Everyone is connected before the first publish.
  const subscribers = tallies.map((tally) =>
    subscriber(herald.url, () => until(tally), tally)
  );
  while (tallies.some((t) => t.connects === 0)) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const stopAt = Date.now() + SECONDS * 1000;
  const published = (await Promise.all(
    Array.from(
      { length: PUBLISHERS },
      (_, p) => publisher(herald.url, stopAt, p),
    ),
  )).flat().sort(compareIdText);
  last = published.at(-1)!;
  giveUpAt = Date.now() + 60_000;
  await Promise.all(subscribers);
  for (const [i, tally] of tallies.entries()) {
    assert.equal(tally.resets, 0, `subscriber ${i}: no reset`);
    assert.equal(tally.ids.at(-1), last, `subscriber ${i} caught up`);
    assert.deepEqual(
      tally.ids,
      published,
      `subscriber ${i}: every id, once, in order`,
    );
  }
  const connects = tallies.reduce((n, t) => n + t.connects, 0);
  assert.ok(connects > SUBSCRIBERS, `subscribers reconnected (${connects})`);
  const report = Deno.env.get("CHAOS_REPORT");
  if (report !== undefined) {
    const deliveries = tallies.reduce((n, t) => n + t.ids.length, 0);
    await Deno.writeTextFile(
      report,
      JSON.stringify({ published: published.length, deliveries, connects }),
    );
  }
});
