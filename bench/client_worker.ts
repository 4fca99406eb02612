/**
 * @module Worker entry that runs one stream pool (`StreamPool` or
 * `EpollPool`) and answers the main thread's requests (see `fleet.ts`).
 */
/// <reference lib="deno.worker" />
import type { ClientKind, WorkerRequest } from "./fleet.ts";
import { EpollPool } from "./epoll_pool.ts";
import { type Pool, StreamPool } from "./stream_pool.ts";

let pool: Pool | null = null;

function makePool(kind: ClientKind): Pool {
  return kind === "epoll" ? new EpollPool() : new StreamPool();
}

self.onmessage = async (event: MessageEvent<WorkerRequest>) => {
  const request = event.data;
  let result: unknown = null;
  try {
    switch (request.kind) {
      case "init":
        pool = makePool(request.client);
        break;
      case "open":
        result = await pool!.open(request.options);
        break;
      case "begin":
        pool!.beginPhase(request.firstSeq, request.messages);
        break;
      case "progress":
        result = pool!.progress();
        break;
      case "tally":
        result = pool!.tally();
        break;
      case "close":
        await pool?.close();
        break;
    }
    self.postMessage({ id: request.id, result });
  } catch (error) {
    self.postMessage({
      id: request.id,
      error: error instanceof Error ? error.message : String(error),
    });
  }
};
