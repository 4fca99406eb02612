/**
 * @module A group of SSE streams read through libc (`Deno.dlopen`): non-blocking
 * sockets, one level-triggered epoll set, and synchronous `read(2)` calls
 * into one shared buffer, parsed by the same {@linkcode SseStreamParser}.
 * Linux only; needs `--allow-ffi`.
 *
 * Why: an async `Deno.Conn.read()` costs about 7 µs of the load generator's
 * CPU per delivery on these machines (a promise and an async op per read),
 * which at 100,000 deliveries/s is most of a core taken from the two the
 * server also needs. Here a delivery costs the `epoll_wait` share, one
 * `read(2)` and the parse (see BENCHMARKS.md for the measured figures).
 *
 * The loop blocks in `epoll_wait` for at most 1 ms at a time and yields to
 * the event loop every few milliseconds, so it is meant to run in a Worker
 * (see `fleet.ts`); the main thread keeps the publisher on time.
 */
import { DeliveryRecorder, type PhaseTally } from "./recorder.ts";
import { SseStreamParser, type StreamSink } from "./sse_parser.ts";
import type {
  OpenOptions,
  OpenResult,
  Pool,
  PoolProgress,
} from "./stream_pool.ts";

const AF_INET = 2;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLL_CTL_MOD = 3;
const EPOLLIN = 0x001;
const EPOLLOUT = 0x004;
const EPOLLERR = 0x008;
const EPOLLHUP = 0x010;
const EINPROGRESS = 115;
const EAGAIN = 11;
const EINTR = 4;
const MAX_EVENTS = 1024;
/** struct epoll_event is packed on x86-64: u32 events, u64 data. */
const EVENT_SIZE = 12;

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let libc: Libc | null = null;

function load(): Libc {
  libc ??= Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  return libc;
}

function errno(c: Libc): number {
  const p = c.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

const enum State {
  Connecting,
  WaitingHead,
  Open,
  Closed,
}

interface Conn {
  fd: number;
  stream: number;
  state: State;
  parser: SseStreamParser;
  onHead: (() => void) | null;
}

/** Reads SSE streams with epoll; same surface as `StreamPool`. */
export class EpollPool implements StreamSink, Pool {
  #c: Libc = load();
  #epfd: number;
  #conns = new Map<number, Conn>();
  #all: Conn[] = [];
  #recorder = new DeliveryRecorder(0, 0, 0);
  #readBuf = new Uint8Array(1 << 16);
  #readLength = BigInt(1 << 16);
  #requestLength = 0n;
  #events = new Uint8Array(EVENT_SIZE * MAX_EVENTS);
  #eventView = new DataView(this.#events.buffer);
  #ctl = new Uint8Array(EVENT_SIZE);
  #ctlView = new DataView(this.#ctl.buffer);
  #request = new Uint8Array(0);
  #established = 0;
  #lastEstablishedAt = 0;
  #closed = 0;
  #otherEvents = 0;
  #running: Promise<void> | null = null;
  #stopping = false;

  /** Makes the epoll set; the read loop starts with the first open(). */
  constructor() {
    this.#epfd = this.#c.epoll_create1(SOCK_CLOEXEC);
    if (this.#epfd < 0) {
      throw new Error(`Cannot create epoll set: errno ${errno(this.#c)}`);
    }
  }

  /** Counts a response head. */
  established(stream: number, status: number): void {
    if (status === 200) {
      this.#established++;
      this.#lastEstablishedAt = epochMs();
    }
    const conn = this.#all[stream];
    if (conn !== undefined) {
      if (status === 200) conn.state = State.Open;
      conn.onHead?.();
      conn.onHead = null;
    }
  }

  /** Counts a benchmark delivery. */
  delivery(stream: number, seq: number, sentUs: number, nowMs: number): void {
    this.#recorder.record(stream, seq, sentUs, nowMs);
  }

  /** Counts another event. */
  otherEvent(): void {
    this.#otherEvents++;
  }

  #control(op: number, fd: number, events: number): void {
    this.#ctlView.setUint32(0, events, true);
    this.#ctlView.setUint32(4, fd, true);
    this.#ctlView.setUint32(8, 0, true);
    this.#c.epoll_ctl(this.#epfd, op, fd, this.#ctl);
  }

  #close(conn: Conn): void {
    if (conn.state === State.Closed) return;
    const wasWaiting = conn.onHead;
    conn.state = State.Closed;
    this.#control(EPOLL_CTL_DEL, conn.fd, 0);
    this.#c.close(conn.fd);
    this.#conns.delete(conn.fd);
    this.#closed++;
    conn.onHead = null;
    wasWaiting?.();
  }

  #startLoop(): void {
    this.#running ??= this.#loop();
  }

  async #loop(): Promise<void> {
    const c = this.#c;
    while (!this.#stopping) {
      const sliceEnd = performance.now() + 5;
      while (performance.now() < sliceEnd) {
        const n = c.epoll_wait(this.#epfd, this.#events, MAX_EVENTS, 1);
        if (n <= 0) {
          if (n < 0 && errno(c) !== EINTR) {
            throw new Error(`Cannot wait on epoll: errno ${errno(c)}`);
          }
          break;
        }
        const now = epochMs();
        for (let i = 0; i < n; i++) {
          const off = i * EVENT_SIZE;
          const events = this.#eventView.getUint32(off, true);
          const fd = this.#eventView.getUint32(off + 4, true);
          const conn = this.#conns.get(fd);
          if (conn === undefined) continue;
          if (conn.state === State.Connecting) {
            if ((events & (EPOLLERR | EPOLLHUP)) !== 0) {
              this.#close(conn);
              continue;
            }
            if ((events & EPOLLOUT) !== 0) {
              const w = c.write(fd, this.#request, this.#requestLength);
              if (Number(w) !== this.#request.length) {
                this.#close(conn);
                continue;
              }
              conn.state = State.WaitingHead;
              this.#control(EPOLL_CTL_MOD, fd, EPOLLIN);
            }
            continue;
          }
          if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) !== 0) {
            const r = Number(c.read(fd, this.#readBuf, this.#readLength));
            if (r > 0) {
              conn.parser.push(this.#readBuf, r, now);
            } else if (r === 0 || errno(c) !== EAGAIN) {
              this.#close(conn);
            }
          }
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  #connect(host: string, port: number, onHead: () => void): Conn | null {
    const c = this.#c;
    const fd = c.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return null;
    const addr = new Uint8Array(16);
    const view = new DataView(addr.buffer);
    view.setUint16(0, AF_INET, true);
    view.setUint16(2, port, false);
    const parts = host.split(".").map(Number);
    for (let i = 0; i < 4; i++) addr[4 + i] = parts[i] ?? 0;
    const r = c.connect(fd, addr, 16);
    if (r < 0 && errno(c) !== EINPROGRESS) {
      c.close(fd);
      return null;
    }
    const conn: Conn = {
      fd,
      stream: this.#all.length,
      state: State.Connecting,
      parser: new SseStreamParser(this.#all.length, this),
      onHead,
    };
    this.#all.push(conn);
    this.#conns.set(fd, conn);
    this.#control(EPOLL_CTL_ADD, fd, EPOLLOUT | EPOLLIN);
    return conn;
  }

  /** Opens `count` streams with a sliding window of concurrent opens. */
  async open(options: OpenOptions): Promise<OpenResult> {
    const concurrency = options.concurrency ?? 256;
    const timeoutMs = options.timeoutMs ?? 30000;
    this.#request = new TextEncoder().encode(
      `GET ${options.path} HTTP/1.1\r\nHost: ${options.host}:${options.port}\r\n` +
        `Accept: text/event-stream\r\nCache-Control: no-cache\r\n` +
        (options.headers ?? []).map((h) => h + "\r\n").join("") + "\r\n",
    );
    this.#requestLength = BigInt(this.#request.length);
    this.#startLoop();
    const errors: Record<string, number> = {};
    let failed = 0;
    let next = 0;
    const before = this.#established;
    const started = epochMs();
    const ports = options.ports ?? [options.port];
    const openOne = async (): Promise<void> => {
      while (next < options.count) {
        const port = ports[next % ports.length]!;
        next++;
        let done: () => void = () => {};
        const headSeen = new Promise<void>((resolve) => done = resolve);
        const conn = this.#connect(options.host, port, done);
        if (conn === null) {
          failed++;
          errors["connect"] = (errors["connect"] ?? 0) + 1;
          continue;
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timedOut = new Promise<void>((resolve) =>
          timer = setTimeout(resolve, timeoutMs)
        );
        await Promise.race([headSeen, timedOut]);
        clearTimeout(timer);
        if (conn.parser.status !== 200) {
          failed++;
          const key = conn.parser.status === 0
            ? "no head"
            : `HTTP ${conn.parser.status}`;
          errors[key] = (errors[key] ?? 0) + 1;
          this.#close(conn);
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

  /** Starts counting the messages `[firstSeq, firstSeq + messages)`. */
  beginPhase(firstSeq: number, messages: number): void {
    this.#recorder = new DeliveryRecorder(this.#all.length, firstSeq, messages);
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

  /** Closes every socket and the epoll set, and stops the loop. */
  async close(): Promise<void> {
    this.#stopping = true;
    await this.#running;
    for (const conn of this.#all) this.#close(conn);
    this.#c.close(this.#epfd);
  }
}

/** Whether this machine can run an {@linkcode EpollPool}. */
export function epollAvailable(): boolean {
  try {
    load();
    return Deno.build.os === "linux" && Deno.build.arch === "x86_64";
  } catch {
    return false;
  }
}
