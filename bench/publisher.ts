/**
 * @module The publisher: sends `count` messages at `rate` per second as HTTP
 * POSTs over a few keep-alive raw TCP connections, one request in flight per
 * connection (to one server, or round-robin over several). Message `i` is due at `start + i / rate`; it carries that due
 * time (not the time it was finally written), so a server that is slow to
 * accept publishes pays for it in the measured latency (no coordinated
 * omission).
 */
import { benchMessage } from "./sse_parser.ts";

/** Where and what to publish. */
export interface PublishOptions {
  /** Server host. */
  host: string;
  /** Server port. */
  port: number;
  /**
   * Several server ports: message k of a run goes to `ports[k % n]`, over
   * `connections` connections to each. @default {[port]}
   */
  ports?: number[];
  /** Request target, e.g. "/message". */
  path: string;
  /** Keep-alive connections used in parallel (per port). @default {4} */
  connections?: number;
  /** Extra request header lines, each "Name: value". @default {[]} */
  headers?: string[];
  /** Characters of padding added to each message. @default {0} */
  padding?: number;
  /** Every n-th message (by seq) is sent with `"private": true`; 0: none. @default {0} */
  privateEvery?: number;
}

/** What a publishing run did. */
export interface PublishResult {
  /** Requests written. */
  sent: number;
  /** Responses with a 2xx status. */
  accepted: number;
  /** Responses by status, and transport errors. */
  statuses: Record<string, number>;
  /** Epoch ms when message 0 was due, and when the last answer came. */
  startedAt: number;
  /** See startedAt. */
  endedAt: number;
  /** Largest delay between a message's due time and its write, ms. */
  maxLagMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

interface Job {
  seq: number;
  dueMs: number;
}

/** Publishes benchmark messages; see the module doc. */
export class Publisher {
  #options: PublishOptions;
  #padding: string;

  /** A publisher for one server. */
  constructor(options: PublishOptions) {
    this.#options = options;
    this.#padding = ".".repeat(options.padding ?? 0);
  }

  /** The body of message `seq`, due at `dueMs`. */
  body(seq: number, dueMs: number): string {
    const every = this.#options.privateEvery ?? 0;
    return JSON.stringify({
      message: benchMessage(seq, dueMs * 1000) + this.#padding,
      topic: "chat",
      ...(every > 0 && seq % every === 0 ? { private: true } : {}),
    });
  }

  /** Sends `[firstSeq, firstSeq + count)` at `rate` messages per second. */
  async run(
    firstSeq: number,
    count: number,
    rate: number,
  ): Promise<PublishResult> {
    const o = this.#options;
    const statuses: Record<string, number> = {};
    const ports = o.ports ?? [o.port];
    const queues: Job[][] = ports.map(() => []);
    let sent = 0;
    let queued = 0;
    let accepted = 0;
    let maxLagMs = 0;
    const idle: (() => void)[] = [];
    const wakeAll = () => {
      while (idle.length > 0) idle.pop()!();
    };
    const heads = ports.map((port) =>
      `POST ${o.path} HTTP/1.1\r\nHost: ${o.host}:${port}\r\n` +
      `Content-Type: application/json\r\nAccept: application/json\r\n` +
      (o.headers ?? []).map((h) => h + "\r\n").join("")
    );
    const note = (key: string) => statuses[key] = (statuses[key] ?? 0) + 1;

    const connections = Math.max(1, o.connections ?? 4);
    const conns: { conn: Deno.TcpConn; at: number }[] = [];
    for (let at = 0; at < ports.length; at++) {
      for (let i = 0; i < connections; i++) {
        const conn = await Deno.connect({ hostname: o.host, port: ports[at]! });
        conn.setNoDelay(true);
        conns.push({ conn, at });
      }
    }
    const startedAt = epochMs() + 20;

    const sender = async (conn: Deno.TcpConn, at: number): Promise<void> => {
      const buf = new Uint8Array(65536);
      let pending: Uint8Array = new Uint8Array(0);
      const queue = queues[at]!;
      const head = heads[at]!;
      while (true) {
        const job = queue.shift();
        if (job === undefined) {
          if (queued >= count) return;
          await new Promise<void>((resolve) => idle.push(resolve));
          continue;
        }
        const body = encoder.encode(this.body(job.seq, job.dueMs));
        const request = encoder.encode(
          `${head}Content-Length: ${body.length}\r\n\r\n`,
        );
        const lag = epochMs() - job.dueMs;
        if (lag > maxLagMs) maxLagMs = lag;
        try {
          await conn.write(concat(request, body));
          sent++;
          // Read one response: head, then Content-Length bytes or a chunked body.
          while (true) {
            const parsed = parseResponse(pending);
            if (parsed !== null) {
              pending = pending.slice(parsed.length);
              note(`HTTP ${parsed.status}`);
              if (parsed.status >= 200 && parsed.status < 300) accepted++;
              break;
            }
            const n = await conn.read(buf);
            if (n === null) throw new Error("closed");
            pending = concat(pending, buf.subarray(0, n));
          }
        } catch (error) {
          note(error instanceof Error ? error.message : "error");
          return;
        }
      }
    };

    const senders = conns.map(({ conn, at }) => sender(conn, at));
    const interval = 1000 / rate;
    while (queued < count) {
      const now = epochMs();
      const due = Math.min(count, Math.floor((now - startedAt) / interval) + 1);
      for (; queued < due; queued++) {
        queues[queued % ports.length]!.push({
          seq: firstSeq + queued,
          dueMs: startedAt + queued * interval,
        });
      }
      wakeAll();
      if (queued < count) {
        const nextDue = startedAt + queued * interval;
        await new Promise((r) =>
          setTimeout(r, Math.max(0, nextDue - epochMs()))
        );
      }
    }
    wakeAll();
    await Promise.all(senders);
    const endedAt = epochMs();
    for (const { conn } of conns) {
      try {
        conn.close();
      } catch {
        // closed by the server
      }
    }
    return { sent, accepted, statuses, startedAt, endedAt, maxLagMs };
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b.slice();
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** One complete response at the start of `b`: its status and byte length. */
function parseResponse(
  b: Uint8Array,
): { status: number; length: number } | null {
  let end = -1;
  for (let i = b.indexOf(10, 3); i !== -1; i = b.indexOf(10, i + 1)) {
    if (b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) {
      end = i + 1;
      break;
    }
  }
  if (end === -1) return null;
  const head = decoder.decode(b.subarray(0, end));
  const status = Number(head.slice(9, 12));
  const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
  if (length !== null) {
    const total = end + Number(length[1]);
    return b.length >= total ? { status, length: total } : null;
  }
  if (/\r\ntransfer-encoding:[ \t]*chunked/i.test(head)) {
    // Walk the chunks to the terminating zero-size one.
    let pos = end;
    while (true) {
      const lf = b.indexOf(10, pos);
      if (lf === -1) return null;
      const size = parseInt(decoder.decode(b.subarray(pos, lf)), 16);
      if (size === 0) {
        const trailerEnd = b.indexOf(10, lf + 1);
        return trailerEnd === -1 ? null : { status, length: trailerEnd + 1 };
      }
      pos = lf + 1 + size + 2;
      if (pos > b.length) return null;
    }
  }
  return { status, length: end };
}
