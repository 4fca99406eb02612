/**
 * herald processes on one Deno KV file (KV_PATH), as behind a load
 * balancer: one global order, failover with Last-Event-ID after a kill -9,
 * and history that outlives every process.
 */
import assert from "node:assert/strict";
import { compareIdText } from "../lib/event_id.ts";
import { tempKvFile } from "./_kv.ts";
import { type HeraldProcess, startHerald } from "./_process.ts";
import { dataOf, SseClient, type SseEvent } from "./_sse_client.ts";

function startOnFile(
  path: string,
  count: number,
  viaTask = false,
): Promise<HeraldProcess[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        startHerald({ env: { KV_PATH: path, HISTORY_SIZE: "1000" }, viaTask }),
    ),
  );
}

async function publish(
  process: HeraldProcess,
  message: string,
): Promise<string> {
  const response = await fetch(`${process.url}/message`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message, topic: "chat" }),
  });
  const json = await response.json();
  assert.equal(response.status, 202, JSON.stringify(json));
  return String(json.id);
}

/** Opens a stream (from `lastEventId` when given) and reads its welcome. */
async function subscribe(
  process: HeraldProcess,
  lastEventId?: string,
): Promise<SseClient> {
  const client = await SseClient.open(`${process.url}/events?topic=chat`, {
    headers: lastEventId === undefined ? {} : { "last-event-id": lastEventId },
  });
  const welcome = await client.next(10_000);
  assert.equal(welcome.event, "system", JSON.stringify(welcome));
  return client;
}

function idsOf(events: readonly SseEvent[]): string[] {
  return events.map((event) => String(event.id));
}

function assertIncreasing(ids: readonly string[]): void {
  for (let i = 1; i < ids.length; i++) {
    assert.ok(
      compareIdText(ids[i - 1]!, ids[i]!) < 0,
      `${ids[i - 1]} < ${ids[i]}`,
    );
  }
}

Deno.test("three herald processes on one KV file: one order for all, failover after kill -9 and a full restart lose nothing and repeat nothing", async () => {
  await using file = await tempKvFile();
  let processes = await startOnFile(file.path, 3);
  const clients: SseClient[] = [];
  try {
    for (const process of processes) clients.push(await subscribe(process));
    // Publishers on all three at once.
    const ids = (await Promise.all(processes.map(async (process, p) => {
      const mine: string[] = [];
      for (let i = 0; i < 10; i++) {
        mine.push(await publish(process, `p${p}-${i}`));
      }
      return mine;
    }))).flat();
    const sorted = [...ids].sort(compareIdText);
    const seen = await Promise.all(clients.map((c) => c.collect(30, 15_000)));
    for (const events of seen) {
      assert.deepEqual(idsOf(events), sorted, "every event once, in one order");
    }
    assertIncreasing(sorted);

    // kill -9 the first process; its browser reconnects to the second.
    await processes[0]!.stop("SIGKILL");
    await clients[0]!.close();
    const during = [
      await publish(processes[1]!, "after-kill-1"),
      await publish(processes[2]!, "after-kill-2"),
    ];
    const moved = await subscribe(processes[1]!, sorted[29]);
    clients[0] = moved;
    const after = await publish(processes[2]!, "after-reconnect");
    const replayed = await moved.collect(3, 15_000);
    assert.deepEqual(idsOf(replayed), [...during, after]);
    assert.ok(!replayed.some((event) => event.event === "reset"));

    // Every process stops; new ones on the same file replay from it.
    for (const client of clients) await client.close();
    clients.length = 0;
    await Promise.all(processes.map((p) => p.stop("SIGTERM")));
    processes = await startOnFile(file.path, 2);
    const back = await subscribe(processes[1]!, sorted[9]);
    clients.push(back);
    const all = [...sorted.slice(10), ...during, after];
    const again = await back.collect(all.length, 15_000);
    assert.deepEqual(idsOf(again), all, "replayed from the file, no reset");
    assert.equal(String(dataOf(again.at(-1)!).message), "after-reconnect");
  } finally {
    for (const client of clients) await client.close();
    await Promise.all(processes.map((p) => p[Symbol.asyncDispose]()));
  }
});

Deno.test("deno task start with KV_PATH keeps its history across a restart: publish, stop, start, reconnect replays", async () => {
  await using file = await tempKvFile();
  let ids: string[];
  {
    await using first = await startHerald({
      env: { KV_PATH: file.path },
      viaTask: true,
    });
    ids = [
      await publish(first, "one"),
      await publish(first, "two"),
      await publish(first, "three"),
    ];
    assert.equal((await first.stop("SIGTERM")).success, true);
  }
  await using second = await startHerald({
    env: { KV_PATH: file.path },
    viaTask: true,
  });
  await using client = await subscribe(second, ids[0]);
  const replayed = await client.collect(2, 10_000);
  assert.deepEqual(idsOf(replayed), ids.slice(1));
  assert.deepEqual(replayed.map((e) => dataOf(e).message), ["two", "three"]);
});
