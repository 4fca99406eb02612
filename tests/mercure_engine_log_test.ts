/**
 * Mercure replay and publisher-id uniqueness from the engine's log, not only
 * one isolate's memory: a hub warms its log from the engine's before it
 * answers a cursor it does not know, merging live events that arrive
 * meanwhile (none lost, none doubled, in hub-id order); and two real herald
 * processes on one Redis, then on one KV file, where the second starts after
 * the updates were published.
 */
import assert from "node:assert/strict";
import {
  type Bus,
  type EventDraft,
  type HubEvent,
  type Presence,
} from "../lib/bus.ts";
import type { EventLog, TailBounds } from "../lib/engine.ts";
import { Listeners } from "../lib/listeners.ts";
import { DuplicateIdError, MercureHub } from "../lib/mercure/mercure_hub.ts";
import { toDraft } from "../lib/mercure/update.ts";
import { tempKvFile } from "./_kv.ts";
import { type HeraldProcess, startHerald } from "./_process.ts";
import { startRedis } from "./_redis.ts";
import { SseClient } from "./_sse_client.ts";
import { readUntil } from "./_stream_text.ts";
import { mint, SECRET } from "./_tokens.ts";

/** A bus whose deliveries the test makes, with the ids it chooses. */
class ManualBus implements Bus {
  readonly #listeners = new Listeners<HubEvent>();
  readonly published: EventDraft[] = [];
  publish(draft: EventDraft): Promise<HubEvent> {
    this.published.push(draft);
    return Promise.resolve({ ...draft, id: "9999-0" });
  }
  subscribe(listener: (event: HubEvent) => void): () => void {
    return this.#listeners.add(listener);
  }
  emit(event: HubEvent): void {
    this.#listeners.emit(event);
  }
  reportClients(): void {}
  presence(): Presence {
    return { clients: 0, instances: 1 };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Update `n`: publisher id `u<n>`, hub id `<1000+n>-0`, topic /t. */
function update(n: number): HubEvent {
  return {
    ...toDraft({
      topics: ["/t"],
      data: `d${n}`,
      id: `u${n}`,
      type: null,
      retry: null,
      private: false,
    }),
    id: `${1000 + n}-0`,
  };
}

Deno.test("MercureHub warms its log from the engine's before an unknown cursor, and live events during the read are neither lost nor doubled", async () => {
  const bus = new ManualBus();
  let answer: (events: readonly HubEvent[]) => void = () => {};
  const asked: TailBounds[] = [];
  const log: EventLog = {
    tail(bounds) {
      asked.push(bounds);
      return new Promise((resolve) => answer = resolve);
    },
  };
  const hub = new MercureHub(bus, {
    heartbeatMs: 0,
    historySize: 50,
    historyMaxBytes: 1_000_000,
    log,
  });
  try {
    // Published before this isolate started: 1 to 3. Live: 4.
    bus.emit(update(4));
    const opening = hub.subscribe({
      matches: () => true,
      mayRead: () => false,
      lastEventId: "u1",
    });
    assert.deepEqual(asked, [{ limit: 50, maxBytes: 1_000_000 }]);
    // Arrives live while the engine's log is read.
    bus.emit(update(5));
    // The engine's log also holds 6, which the bus brings here only later.
    answer([1, 2, 3, 4, 5, 6].map(update));
    const { stream, replayedAfter } = await opening;
    assert.equal(replayedAfter, "u1");
    bus.emit(update(6));
    bus.emit(update(7));
    const reader = stream.getReader();
    const text = await readUntil(reader, (t) => t.includes("data: d7"));
    assert.deepEqual(
      [...text.matchAll(/^id: (\S+)$/gm)].map((m) => m[1]),
      ["u2", "u3", "u4", "u5", "u6", "u7"],
    );
    await reader.cancel();
    // The engine's ids are known: a duplicate is refused, a new id is not.
    await assert.rejects(
      hub.publish({ ...toUpdate("u2") }),
      DuplicateIdError,
    );
    await hub.publish(toUpdate("u8"));
    assert.equal(bus.published.length, 1);
    assert.equal(asked.length, 1, "the engine's log is read once");
  } finally {
    hub.close();
  }
});

function toUpdate(id: string) {
  return {
    topics: ["/t"],
    data: "x",
    id,
    type: null,
    retry: null,
    private: false,
  };
}

const ENV = { JWT_SECRET: SECRET, MERCURE_ANONYMOUS: "1", HISTORY_SIZE: "100" };

async function publish(
  process: HeraldProcess,
  id: string,
): Promise<Response> {
  return await fetch(`${process.url}/.well-known/mercure`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${await mint({ publish: ["*"] })}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ topic: "/books/1", data: `data ${id}`, id }),
  });
}

/**
 * Publishes u1..u3 on A, starts B afterwards, resumes on B after u1: exactly
 * u2, u3, then a later u4 from A, once each, in order; u2 again on B → 409.
 */
async function checkLateProcess(env: Record<string, string>): Promise<void> {
  await using a = await startHerald({ env: { ...ENV, ...env } });
  for (const id of ["u1", "u2", "u3"]) {
    const response = await publish(a, id);
    assert.equal(response.status, 200, await response.text());
  }
  await using b = await startHerald({ env: { ...ENV, ...env } });
  await using client = await SseClient.open(
    `${b.url}/.well-known/mercure?match=/books/1`,
    { headers: { "last-event-id": "u1" } },
  );
  assert.equal(client.response.headers.get("mercure-last-event-id"), "u1");
  assert.equal(client.response.headers.get("last-event-id"), "u1");
  const response = await publish(a, "u4");
  assert.equal(response.status, 200, await response.text());
  const events = await client.collect(3, 10_000);
  assert.deepEqual(events.map((e) => [e.id, e.data]), [
    ["u2", "data u2"],
    ["u3", "data u3"],
    ["u4", "data u4"],
  ]);
  const duplicate = await publish(b, "u2");
  assert.equal(duplicate.status, 409, await duplicate.text());
  // Nothing more came: no double of a replayed update.
  const fresh = await publish(b, "u5");
  assert.equal(fresh.status, 200, await fresh.text());
  assert.equal((await client.next(10_000)).id, "u5");
}

Deno.test("two processes on one Redis: a process started after the updates replays after an early Mercure id and refuses its duplicates", async () => {
  await using redis = await startRedis();
  await checkLateProcess({ REDIS_URL: redis.url });
});

Deno.test("two processes on one KV file: a process started after the updates replays after an early Mercure id and refuses its duplicates", async () => {
  await using file = await tempKvFile();
  await checkLateProcess({ KV_PATH: file.path });
});

Deno.test("two processes on one KV file: the same new publisher id posted to both at once is taken exactly once", async () => {
  await using file = await tempKvFile();
  const env = { ...ENV, KV_PATH: file.path };
  await using a = await startHerald({ env });
  await using b = await startHerald({ env });
  for (let i = 0; i < 10; i++) {
    const id = `urn:race:${i}`;
    const statuses = await Promise.all([a, b].map(async (process) => {
      const response = await publish(process, id);
      await response.body?.cancel();
      return response.status;
    }));
    assert.deepEqual(statuses.sort(), [200, 409], id);
  }
});
