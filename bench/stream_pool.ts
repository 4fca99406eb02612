/**
 * @module A group of SSE streams on raw TCP sockets (`Deno.connect`), one
 * read loop each, all parsed by {@linkcode SseStreamParser} and counted by one
 * {@linkcode DeliveryRecorder} per publishing phase. One pool lives in one
 * thread; `client_worker.ts` runs pools in Workers.
 */
import { DeliveryRecorder, type PhaseTally } from "./recorder.ts";
import { SseStreamParser, type StreamSink } from "./sse_parser.ts";

/** Where and how to open streams. */
export interface OpenOptions {
  /** Server host. */
  host: string;
  /** Server port. */
  port: number;
  /**
   * Several server ports: stream j of this open goes to `ports[j % n]`
   * (`port` is then only the Host header's). @default {[port]}
   */
  ports?: number[];
  /** Request target, e.g. "/events?topic=chat". */
  path: string;
  /** Streams to open. */
  count: number;
  /** Streams being opened at once (a sliding window, not fixed batches). @default {256} */
  concurrency?: number;
  /** Bytes per socket read buffer. @default {16384} */
  readSize?: number;
  /** Give up on a stream whose response head has not come after this. @default {30000} */
  timeoutMs?: number;
  /** Extra request header lines ("Name: value"), e.g. a token cookie. @default {[]} */
  headers?: string[];
}

/** How the opening went. */
export interface OpenResult {
  /** Streams that got a 200 head. */
  established: number;
  /** Streams that failed to connect or got another status. */
  failed: number;
  /** Statuses other than 200 and connect errors, counted by name. */
  errors: Record<string, number>;
  /** From the first connect to the last 200 head, in ms. */
  openMs: number;
}

/** A point-in-time view of a pool. */
export interface PoolProgress {
  /** First deliveries recorded in the current phase. */
  received: number;
  /** Streams whose socket has closed since they opened. */
  closed: number;
  /** Non-benchmark events seen since the pool was made. */
  otherEvents: number;
}

/** What every stream pool offers (this one and `EpollPool`). */
export interface Pool {
  /** Opens streams. */
  open(options: OpenOptions): Promise<OpenResult>;
  /** Starts counting a phase. */
  beginPhase(firstSeq: number, messages: number): void;
  /** The current phase's tally. */
  tally(): PhaseTally;
  /** Counters for progress polling. */
  progress(): PoolProgress;
  /** Closes every stream. */
  close(): Promise<void>;
}

function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Opens and reads SSE streams; see the module doc. */
export class StreamPool implements StreamSink, Pool {
  #conns: Deno.TcpConn[] = [];
  #parsers: SseStreamParser[] = [];
  #recorder = new DeliveryRecorder(0, 0, 0);
  #established = 0;
  #lastEstablishedAt = 0;
  #closed = 0;
  #otherEvents = 0;
  #waiters = new Map<number, () => void>();
  #loops: Promise<void>[] = [];

  /** Counts a response head. */
  established(stream: number, status: number): void {
    if (status === 200) {
      this.#established++;
      this.#lastEstablishedAt = epochMs();
    }
    this.#waiters.get(stream)?.();
  }

  /** Counts a benchmark delivery. */
  delivery(stream: number, seq: number, sentUs: number, nowMs: number): void {
    this.#recorder.record(stream, seq, sentUs, nowMs);
  }

  /** Counts another event. */
  otherEvent(): void {
    this.#otherEvents++;
  }

  /** Opens `count` streams with a sliding window of concurrent opens. */
  async open(options: OpenOptions): Promise<OpenResult> {
    const concurrency = options.concurrency ?? 256;
    const readSize = options.readSize ?? 16384;
    const timeoutMs = options.timeoutMs ?? 30000;
    const request = new TextEncoder().encode(
      `GET ${options.path} HTTP/1.1\r\nHost: ${options.host}:${options.port}\r\n` +
        `Accept: text/event-stream\r\nCache-Control: no-cache\r\n` +
        (options.headers ?? []).map((h) => h + "\r\n").join("") + "\r\n",
    );
    const errors: Record<string, number> = {};
    let failed = 0;
    let next = 0;
    const started = epochMs();
    const before = this.#established;
    const ports = options.ports ?? [options.port];
    const openOne = async (): Promise<void> => {
      while (next < options.count) {
        const port = ports[next % ports.length]!;
        next++;
        const stream = this.#parsers.length;
        const parser = new SseStreamParser(stream, this);
        this.#parsers.push(parser);
        try {
          const conn = await Deno.connect({
            hostname: options.host,
            port,
          });
          conn.setNoDelay(true);
          this.#conns.push(conn);
          const headSeen = new Promise<void>((resolve) => {
            this.#waiters.set(stream, resolve);
          });
          this.#loops.push(this.#readLoop(conn, parser, readSize));
          await conn.write(request);
          let timer: ReturnType<typeof setTimeout> | undefined;
          const timedOut = new Promise<void>((resolve) => {
            timer = setTimeout(resolve, timeoutMs);
          });
          await Promise.race([headSeen, timedOut]);
          clearTimeout(timer);
          this.#waiters.delete(stream);
          if (parser.status !== 200) {
            failed++;
            closeQuietly(conn);
            const key = parser.status === 0
              ? "no head"
              : `HTTP ${parser.status}`;
            errors[key] = (errors[key] ?? 0) + 1;
          }
        } catch (error) {
          failed++;
          const key = error instanceof Error ? error.name : "error";
          errors[key] = (errors[key] ?? 0) + 1;
        }
      }
    };
    const runners: Promise<void>[] = [];
    for (let i = 0; i < Math.min(concurrency, options.count); i++) {
      runners.push(openOne());
    }
    await Promise.all(runners);
    const established = this.#established - before;
    return {
      established,
      failed,
      errors,
      openMs: established > 0 ? this.#lastEstablishedAt - started : 0,
    };
  }

  async #readLoop(
    conn: Deno.TcpConn,
    parser: SseStreamParser,
    readSize: number,
  ): Promise<void> {
    const buf = new Uint8Array(readSize);
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null) break;
        parser.push(buf, n, epochMs());
      }
    } catch {
      // A reset or our own close: the stream is over either way.
    } finally {
      this.#closed++;
      this.#waiters.get(parser.stream)?.();
    }
  }

  /** Starts counting the messages `[firstSeq, firstSeq + messages)`. */
  beginPhase(firstSeq: number, messages: number): void {
    this.#recorder = new DeliveryRecorder(
      this.#parsers.length,
      firstSeq,
      messages,
    );
  }

  /** The current phase's tally. */
  tally(): PhaseTally {
    return this.#recorder.tally();
  }

  /** Counters for progress polling. */
  progress(): PoolProgress {
    return {
      received: this.#recorder.received,
      closed: this.#closed,
      otherEvents: this.#otherEvents,
    };
  }

  /** Closes every socket and waits for the read loops to end. */
  async close(): Promise<void> {
    for (const conn of this.#conns) closeQuietly(conn);
    this.#conns = [];
    await Promise.all(this.#loops);
    this.#loops = [];
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
