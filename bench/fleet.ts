/**
 * @module All the load generator's streams: one pool in the main thread, or
 * one per Worker (`workers > 0`), with streams split evenly and results
 * merged. A pool is a {@linkcode StreamPool} (`Deno.connect`, client "deno")
 * or an `EpollPool` (libc through FFI, client "epoll", always in Workers).
 * Workers are threads of the same process, so the load generator's CPU is
 * still read from one `/proc/self/stat`.
 */
import { mergeTallies, type PhaseTally } from "./recorder.ts";
import {
  type OpenOptions,
  type OpenResult,
  type PoolProgress,
  StreamPool,
} from "./stream_pool.ts";

/** How streams are read: async `Deno.Conn.read()` or epoll through FFI. */
export type ClientKind = "deno" | "epoll";

/** A request from the main thread to a client worker. */
export type WorkerRequest =
  & { id: number }
  & (
    | { kind: "init"; client: ClientKind }
    | { kind: "open"; options: OpenOptions }
    | { kind: "begin"; firstSeq: number; messages: number }
    | { kind: "progress" }
    | { kind: "tally" }
    | { kind: "close" }
  );

type Body<K> = K extends WorkerRequest["kind"]
  ? Omit<Extract<WorkerRequest, { kind: K }>, "id">
  : never;

interface Group {
  open(options: OpenOptions): Promise<OpenResult>;
  begin(firstSeq: number, messages: number): Promise<void>;
  progress(): Promise<PoolProgress>;
  tally(): Promise<PhaseTally>;
  close(): Promise<void>;
}

function localGroup(): Group {
  const pool = new StreamPool();
  return {
    open: (options) => pool.open(options),
    begin: (firstSeq, messages) => {
      pool.beginPhase(firstSeq, messages);
      return Promise.resolve();
    },
    progress: () => Promise.resolve(pool.progress()),
    tally: () => Promise.resolve(pool.tally()),
    close: () => pool.close(),
  };
}

function workerGroup(client: ClientKind): Group {
  const worker = new Worker(
    new URL("./client_worker.ts", import.meta.url).href,
    { type: "module" },
  );
  let nextId = 0;
  const pending = new Map<
    number,
    [(value: unknown) => void, (error: Error) => void]
  >();
  worker.onmessage = (
    event: MessageEvent<{ id: number; result?: unknown; error?: string }>,
  ) => {
    const entry = pending.get(event.data.id);
    pending.delete(event.data.id);
    if (event.data.error !== undefined) entry?.[1](new Error(event.data.error));
    else entry?.[0](event.data.result);
  };
  worker.onerror = (event) => {
    event.preventDefault();
    for (const [, reject] of pending.values()) {
      reject(new Error(`Client worker failed: ${event.message}`));
    }
    pending.clear();
  };
  function call<T>(body: Body<WorkerRequest["kind"]>): Promise<T> {
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, [resolve as (value: unknown) => void, reject]);
      worker.postMessage({ ...body, id });
    });
  }
  void call<void>({ kind: "init", client });
  return {
    open: (options) => call<OpenResult>({ kind: "open", options }),
    begin: (firstSeq, messages) =>
      call<void>({ kind: "begin", firstSeq, messages }),
    progress: () => call<PoolProgress>({ kind: "progress" }),
    tally: () => call<PhaseTally>({ kind: "tally" }),
    close: async () => {
      await call<void>({ kind: "close" });
      worker.terminate();
    },
  };
}

/** The load generator's streams, in the main thread or in Workers. */
export class StreamFleet {
  #groups: Group[];

  /**
   * `workers` = 0 reads every stream in the main thread (the "deno" client
   * only; "epoll" then uses one Worker).
   */
  constructor(options: { workers?: number; client?: ClientKind } = {}) {
    const client = options.client ?? "deno";
    let workers = options.workers ?? 0;
    if (client === "epoll" && workers <= 0) workers = 1;
    this.#groups = [];
    if (workers <= 0) this.#groups.push(localGroup());
    for (let i = 0; i < workers; i++) this.#groups.push(workerGroup(client));
  }

  /**
   * Opens `options.count` streams, split evenly over the groups. With
   * `options.ports`, stream i of the whole fleet goes to port i % ports.
   */
  async open(options: OpenOptions): Promise<OpenResult> {
    const n = this.#groups.length;
    const started = performance.now();
    let first = 0;
    const results = await Promise.all(this.#groups.map((group, i) => {
      const count = Math.floor(options.count / n) +
        (i < options.count % n ? 1 : 0);
      const concurrency = Math.max(
        1,
        Math.ceil((options.concurrency ?? 256) / n),
      );
      const ports = options.ports;
      const shift = ports === undefined ? 0 : first % ports.length;
      first += count;
      return group.open(
        ports === undefined ? { ...options, count, concurrency } : {
          ...options,
          count,
          concurrency,
          ports: [...ports.slice(shift), ...ports.slice(0, shift)],
        },
      );
    }));
    const errors: Record<string, number> = {};
    for (const r of results) {
      for (const [k, v] of Object.entries(r.errors)) {
        errors[k] = (errors[k] ?? 0) + v;
      }
    }
    return {
      established: results.reduce((a, r) => a + r.established, 0),
      failed: results.reduce((a, r) => a + r.failed, 0),
      errors,
      openMs: n === 1 ? results[0]!.openMs : Math.min(
        performance.now() - started,
        Math.max(...results.map((r) => r.openMs)),
      ),
    };
  }

  /** Starts a publishing phase on every group. */
  async begin(firstSeq: number, messages: number): Promise<void> {
    await Promise.all(this.#groups.map((g) => g.begin(firstSeq, messages)));
  }

  /** Summed progress counters. */
  async progress(): Promise<PoolProgress> {
    const all = await Promise.all(this.#groups.map((g) => g.progress()));
    return {
      received: all.reduce((a, p) => a + p.received, 0),
      closed: all.reduce((a, p) => a + p.closed, 0),
      otherEvents: all.reduce((a, p) => a + p.otherEvents, 0),
    };
  }

  /** The merged tally of the current phase. */
  async tally(): Promise<PhaseTally> {
    return mergeTallies(
      await Promise.all(this.#groups.map((g) => g.tally())),
    );
  }

  /** Closes every stream (and Worker). */
  async close(): Promise<void> {
    await Promise.all(this.#groups.map((g) => g.close()));
  }
}
