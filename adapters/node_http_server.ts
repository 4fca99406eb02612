/**
 * @module Serves a Web-standard handler (`(Request) => Promise<Response>`)
 * through `node:http`: herald's default server under Deno (one per isolate;
 * `start:parallel` runs one per Worker, `reusePort`), and its server on Node.
 *
 * Under Deno 2.9, a `ReadableStream` response body given to `Deno.serve`
 * costs about 60 KiB of RSS per open stream (ext/http's stream resource
 * allocates a 1,024-slot ring per body); Deno's `node:http` server holds an
 * SSE connection in about 11 KiB. This adapter keeps the handler unchanged.
 * A subscriber's body is diverted to the socket ({@linkcode SocketSink}):
 * its chunks are held for a write pass that sends each socket what it holds
 * in one system call, so a socket that falls behind takes several events at
 * once, and the socket's backlog is the subscriber's bounded queue. Any other
 * body is read with a reader and written with `res.write`, waiting for
 * 'drain' when the socket is full. `deno serve --parallel` cannot host it.
 */
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from "node:http";
import type { Socket } from "node:net";
import { setImmediate } from "node:timers";
import {
  divertStream,
  type StreamSink,
  subscriberOf,
} from "../lib/subscriber.ts";

/** Options for {@linkcode serveWithNodeHttp}. */
export interface NodeHttpServeOptions {
  /** The port to listen on; 0 picks a free one. */
  port: number;
  /** The address to listen on. */
  hostname: string;
  /** Aborting it shuts the server down (as {@linkcode NodeHttpServer.shutdown}). */
  signal?: AbortSignal;
  /** Called once the server listens, with the address it listens on. */
  onListen?: (address: { hostname: string; port: number }) => void;
  /**
   * The most time a client may take to send its request headers, in ms.
   * @default {60000}
   */
  headersTimeoutMs?: number;
  /**
   * How long an idle keep-alive connection is kept open, in ms. Longer than
   * the pools of the usual publishers keep theirs (Go and Deno's fetch 90 s,
   * nginx upstreams and load balancers 60 s): a server that closes first
   * races the client's next request, which then fails with "connection
   * closed" (node:http's own default is 5 s). `deno serve` never closes
   * them.
   * @default {120000}
   */
  keepAliveTimeoutMs?: number;
  /** The largest request body buffered ahead of the handler, in bytes. @default {65536} */
  requestBodyHighWaterMark?: number;
  /**
   * Listen with SO_REUSEPORT, so several isolates can listen on one port and
   * the kernel spreads connections across them.
   * @default {false}
   */
  reusePort?: boolean;
}

/** A running server. */
export interface NodeHttpServer {
  /** Resolves once the server has stopped and every connection is closed. */
  readonly finished: Promise<void>;
  /** The port the server listens on (known once `onListen` ran). */
  readonly port: number;
  /**
   * Stops accepting, lets responses in progress end (bodies that end on their
   * own, such as drained event streams), then closes every connection.
   * Resolves as {@linkcode NodeHttpServer.finished}.
   */
  shutdown(): Promise<void>;
}

/** A Web-standard fetch handler. */
type Handler = (request: Request) => Response | Promise<Response>;

const encoder = new TextEncoder();

/**
 * Serves `handler` with `node:http` on `options.hostname`:`options.port`.
 * Every request becomes a `Request` (absolute URL from the Host header, the
 * body as a `ReadableStream` with backpressure); every response body is
 * written as it is read. Errors thrown by the handler become a 500 JSON
 * `{error}`.
 */
export function serveWithNodeHttp(
  handler: Handler,
  options: NodeHttpServeOptions,
): NodeHttpServer {
  const active = new Set<ServerResponse>();
  const idleWaiters: Array<() => void> = [];
  // Long URLs and headers as Deno.serve takes them (node:http's own limit
  // is 16 KiB, which a long Last-Event-ID or topic list can pass).
  // noDelay: every event leaves at once, not after the previous one's ACK
  // (node:http's default too; set here so it is not left to the runtime).
  const server = createServer({
    maxHeaderSize: 64 * 1024,
    noDelay: true,
  }, (req, res) => {
    active.add(res);
    res.once("close", () => {
      active.delete(res);
      if (active.size === 0) {
        for (const wake of idleWaiters.splice(0)) wake();
      }
    });
    void respond(handler, req, res, options);
  });
  // Long-lived streams: no whole-request deadline.
  server.requestTimeout = 0;
  server.headersTimeout = options.headersTimeoutMs ?? 60_000;
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 120_000;

  let port = options.port;
  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => resolveFinished = resolve);
  let stopping: Promise<void> | null = null;

  function shutdown(): Promise<void> {
    if (stopping !== null) return stopping;
    stopping = (async () => {
      const closed = new Promise<void>((resolve) =>
        server.close(() => resolve())
      );
      server.closeIdleConnections();
      if (active.size > 0) {
        await new Promise<void>((resolve) => idleWaiters.push(resolve));
      }
      server.closeAllConnections();
      await closed;
      resolveFinished();
    })();
    return stopping;
  }

  server.listen({
    port: options.port,
    host: options.hostname,
    reusePort: options.reusePort ?? false,
  }, () => {
    const address = server.address();
    if (address !== null && typeof address === "object") port = address.port;
    options.onListen?.({ hostname: options.hostname, port });
  });
  if (options.signal !== undefined) {
    if (options.signal.aborted) void shutdown();
    else options.signal.addEventListener("abort", () => void shutdown());
  }
  return {
    finished,
    get port() {
      return port;
    },
    shutdown,
  };
}

async function respond(
  handler: Handler,
  req: IncomingMessage,
  res: ServerResponse,
  options: NodeHttpServeOptions,
): Promise<void> {
  // `answer` returns once the head is written, so the Request and Response
  // it saw are not kept alive for as long as the body streams.
  const body = await answer(handler, req, res, options);
  if (body !== null && !await divert(body, res)) await pump(body, res);
}

/** Calls the handler and writes the head; returns the body still to send. */
async function answer(
  handler: Handler,
  req: IncomingMessage,
  res: ServerResponse,
  options: NodeHttpServeOptions,
): Promise<ReadableStream<Uint8Array> | null> {
  let request: Request;
  try {
    request = toRequest(req, options);
  } catch (error) {
    writeJsonError(res, 400, `Cannot read request: ${messageOf(error)}`);
    return null;
  }
  let response: Response;
  try {
    response = await handler(request);
  } catch (error) {
    writeJsonError(res, 500, messageOf(error));
    return null;
  }
  return await writeHead(req, res, response);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function toRequest(
  req: IncomingMessage,
  options: NodeHttpServeOptions,
): Request {
  const method = req.method ?? "GET";
  const target = req.url ?? "/";
  const host = req.headers.host ?? `${options.hostname}:${options.port}`;
  // A string, not a URL: Request parses it once. A target that is not a
  // path (absolute-form, or junk) is resolved as a URL would resolve it.
  const url = target.startsWith("/")
    ? `http://${host}${target}`
    : new URL(target, `http://${host}/`).href;
  // Name/value pairs, not a Headers object: Request copies its init either
  // way, and a Headers init is validated twice and sorted on the way
  // (about 8 µs of the open path, BENCHMARKS.md).
  const raw = req.rawHeaders;
  const headers: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    headers.push([raw[i]!, raw[i + 1]!]);
  }
  const hasBody = method !== "GET" && method !== "HEAD";
  return new Request(url, {
    method,
    headers,
    ...(hasBody
      ? {
        body: bodyStream(req, options.requestBodyHighWaterMark ?? 65_536),
        duplex: "half",
      }
      : {}),
  } as RequestInit);
}

/** The request body as a byte stream that pauses the socket when its queue is full. */
function bodyStream(
  req: IncomingMessage,
  highWaterMark: number,
): ReadableStream<Uint8Array> {
  let done = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      req.on("data", (chunk: Uint8Array) => {
        if (done) return;
        controller.enqueue(
          new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength),
        );
        if ((controller.desiredSize ?? 0) <= 0) req.pause();
      });
      req.once("end", () => {
        if (done) return;
        done = true;
        controller.close();
      });
      req.once("error", (error) => {
        if (done) return;
        done = true;
        controller.error(error);
      });
      req.once("close", () => {
        if (done) return;
        done = true;
        controller.error(new Error("Cannot read body: the client went away"));
      });
    },
    pull() {
      req.resume();
    },
    cancel() {
      done = true;
      // The rest is read and dropped; if it never ends, writeResponse closes
      // the connection after the answer.
      req.resume();
    },
  }, { highWaterMark, size: (chunk) => chunk.byteLength });
}

function toHeaders(
  response: Response,
  closeAfter: boolean,
): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  let cookies: string[] | null = null;
  // forEach, not for...of: the same sorted pairs (each set-cookie on its
  // own), without an iterator result per pair; a third of the cost and
  // under a fifth of the garbage of the open path's largest allocation.
  response.headers.forEach((value, name) => {
    if (name === "set-cookie") (cookies ??= []).push(value);
    else headers[name] = value;
  });
  if (cookies !== null) headers["set-cookie"] = cookies;
  if (closeAfter) headers["connection"] = "close";
  return headers;
}

function writeJsonError(
  res: ServerResponse,
  status: number,
  error: string,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = encoder.encode(JSON.stringify({ error }));
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": body.byteLength,
  });
  res.end(body);
}

/** Writes the status and headers; returns the body still to send, if any. */
async function writeHead(
  req: IncomingMessage,
  res: ServerResponse,
  response: Response,
): Promise<ReadableStream<Uint8Array> | null> {
  // A request body the handler left unread (say, a 413 to a chunked body
  // that never ends): answer, then close rather than wait for the rest.
  const unread = !req.complete && req.method !== "GET" &&
    req.method !== "HEAD";
  if (unread) res.once("finish", () => req.socket.destroy());
  res.writeHead(response.status, toHeaders(response, unread));
  const body = response.body;
  if (body === null || req.method === "HEAD" || res.destroyed) {
    await body?.cancel().catch(() => {});
    res.end();
    return null;
  }
  // The head of an event stream goes out with its first chunks (divert),
  // or at once when its body is pumped (pump).
  return body;
}

/** One chunk of the chunked transfer coding: size in hex, CRLF, bytes, CRLF. */
function chunkFrame(bytes: Uint8Array): Uint8Array {
  const head = encoder.encode(`${bytes.byteLength.toString(16)}\r\n`);
  const frame = new Uint8Array(head.byteLength + bytes.byteLength + 2);
  frame.set(head, 0);
  frame.set(bytes, head.byteLength);
  frame[frame.byteLength - 2] = 13;
  frame[frame.byteLength - 1] = 10;
  return frame;
}

/**
 * The last chunk framed, and what it framed. The hub writes one joined batch
 * (or one heartbeat, or one update) to every stream in a row, so it is
 * framed once and the same bytes go to every socket.
 */
let lastFramed: { bytes: Uint8Array; frame: Uint8Array } | null = null;

function framed(bytes: Uint8Array): Uint8Array {
  if (lastFramed === null || lastFramed.bytes !== bytes) {
    lastFramed = { bytes, frame: chunkFrame(bytes) };
  }
  return lastFramed.frame;
}

/**
 * Sinks holding chunks for {@linkcode writePass}, in the order they were
 * first written to (from `head` on). A sink that sent its chunks early stays
 * in the queue; its turn in the pass then sends nothing.
 */
let waiting: SocketSink[] = [];
let head = 0;
let passScheduled = false;

/**
 * The most bytes a sink holds for the pass; past it they are sent at once,
 * so what a sink holds stays small next to its bounded queue (which counts
 * only what the socket could not send yet).
 */
const HOLD_LIMIT = 16 * 1024;

/** How long one slice of a write pass may run before I/O gets a turn, in ms. */
const PASS_SLICE_MS = 1;

/**
 * Sends what each waiting sink holds, one `send` (or `writev`) per socket
 * for everything written to it since the last pass. It yields to the event
 * loop every {@linkcode PASS_SLICE_MS}, so events that arrive while a pass
 * is behind join the chunks still held by the sockets it has not reached
 * yet: under overload a socket takes several events in one syscall (as
 * Deno.serve's stream ring does), while an idle hub writes each event at
 * once, right after its fan-out.
 */
function writePass(): void {
  passScheduled = false;
  const deadline = performance.now() + PASS_SLICE_MS;
  const queue = waiting;
  while (head < queue.length) {
    queue[head++]!.send();
    if ((head & 63) === 0 && performance.now() > deadline) break;
  }
  if (head < queue.length) {
    // Under steady overload the queue never empties: drop the sent part.
    if (head >= 4096) {
      waiting = queue.slice(head);
      head = 0;
    }
    schedulePass();
    return;
  }
  waiting = [];
  head = 0;
}

function schedulePass(): void {
  if (passScheduled) return;
  passScheduled = true;
  setImmediate(writePass);
}

/**
 * A subscriber's body written straight to the socket, each chunk framed for
 * the chunked coding `res` announced; `res.end()` writes the last chunk.
 * Chunks are held until the next {@linkcode writePass}; the socket's write
 * buffer is the subscriber's bounded queue.
 */
class SocketSink implements StreamSink {
  readonly #res: ServerResponse;
  readonly #socket: Socket;
  /** The first chunk waiting for the pass, and any that came after it. */
  #first: Uint8Array | null = null;
  #more: Uint8Array[] | null = null;
  #heldBytes = 0;

  constructor(res: ServerResponse, socket: Socket) {
    this.#res = res;
    this.#socket = socket;
  }

  write(bytes: Uint8Array): void {
    if (bytes.byteLength === 0 || this.#socket.destroyed) return;
    const frame = framed(bytes);
    if (this.#heldBytes + frame.byteLength > HOLD_LIMIT) this.send();
    if (frame.byteLength >= HOLD_LIMIT) {
      // Large chunks gain nothing from joining: sent at once, as before.
      this.#socket.write(frame);
      return;
    }
    if (this.#first === null) {
      this.#first = frame;
      waiting.push(this);
      schedulePass();
    } else {
      (this.#more ??= []).push(frame);
    }
    this.#heldBytes += frame.byteLength;
  }

  /** Sends what was written since the last pass: one write, or one writev. */
  send(): void {
    const first = this.#first;
    if (first === null) return;
    const more = this.#more;
    this.#first = null;
    this.#more = null;
    this.#heldBytes = 0;
    const socket = this.#socket;
    if (socket.destroyed) return;
    if (more === null) {
      socket.write(first);
      return;
    }
    socket.cork();
    socket.write(first);
    for (const frame of more) socket.write(frame);
    socket.uncork();
  }

  /** The socket's backlog (chunks held for the pass are at most {@linkcode HOLD_LIMIT}). */
  get queuedBytes(): number {
    return this.#socket.writableLength;
  }

  close(): void {
    this.send();
    this.#res.end();
  }

  abort(): void {
    this.#first = null;
    this.#more = null;
    this.#heldBytes = 0;
    this.#res.destroy();
  }
}

/**
 * Sends a subscriber's body by diverting it to a {@linkcode SocketSink}
 * once what it queued before the head went out is written; returns false
 * when `body` is no subscriber's (or `res` cannot take raw chunks), so the
 * caller pumps it instead.
 */
async function divert(
  body: ReadableStream<Uint8Array>,
  res: ServerResponse,
): Promise<boolean> {
  const subscriber = subscriberOf(body);
  const socket = res.socket;
  // Raw chunks need the chunked coding, and a socket that is ours already
  // (not queued behind an earlier response on the connection).
  if (
    subscriber === undefined || socket === null ||
    res.getHeader("transfer-encoding") !== undefined ||
    !(res as unknown as { chunkedEncoding: boolean }).chunkedEncoding
  ) {
    return false;
  }
  const sink = new SocketSink(res, socket);
  const reader = body.getReader();
  const onDrain = () => subscriber.drained();
  // One listener for the connection's end: cancel the body (a client that
  // went away), and stop listening for the socket draining.
  res.once("close", () => {
    socket.off("drain", onDrain);
    if (res.writableFinished) return;
    reader.cancel().catch(() => {});
  });
  // The head and what the stream queued before it (retry and welcome) leave
  // in one write: corked until they are all in the socket's buffer. The
  // reads below take queued chunks only, so they settle within this turn.
  socket.cork();
  res.flushHeaders();
  try {
    for (;;) {
      const state = divertStream(body, sink);
      if (state === "diverted") break;
      if (state === "no") {
        // Ended before it could be diverted: what is left ends it.
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          sink.write(value);
        }
        sink.close();
        return true;
      }
      const { done, value } = await reader.read();
      if (done) {
        sink.close();
        return true;
      }
      sink.write(value);
    }
    sink.send();
  } catch {
    sink.abort();
    return true;
  } finally {
    socket.uncork();
  }
  if (!socket.destroyed) socket.on("drain", onDrain);
  return true;
}

/**
 * Copies `body` to `res` chunk by chunk. When `res.write` says the socket is
 * full, it stops reading until 'drain', so the body's queue fills instead
 * (and a bounded body errors). A client that goes away cancels the body; a
 * body that errors destroys the connection.
 */
async function pump(
  body: ReadableStream<Uint8Array>,
  res: ServerResponse,
): Promise<void> {
  // An event stream's head goes out now, before its first event.
  if (
    String(res.getHeader("content-type") ?? "").startsWith("text/event-stream")
  ) {
    res.flushHeaders();
  }
  const reader = body.getReader();
  let gone = false;
  let settled = false;
  let wake: (() => void) | null = null;
  const wakeUp = () => {
    const resolve = wake;
    wake = null;
    resolve?.();
  };
  const onClose = () => {
    if (res.writableFinished) return;
    gone = true;
    reader.cancel().catch(() => {});
    wakeUp();
  };
  res.once("close", onClose);
  res.on("drain", wakeUp);
  const onSettled = () => {
    settled = true;
    wakeUp();
  };
  reader.closed.then(onSettled, onSettled);
  try {
    while (!gone) {
      const { done, value } = await reader.read();
      if (done) {
        res.end();
        return;
      }
      if (gone) return;
      if (!res.write(value) && !settled) {
        await new Promise<void>((resolve) => wake = resolve);
      }
    }
  } catch {
    // The body errored (a reader too slow, cut off by its bounded queue).
    res.destroy();
  } finally {
    res.off("drain", wakeUp);
    res.off("close", onClose);
  }
}
