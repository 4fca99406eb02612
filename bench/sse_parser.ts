/**
 * @module An incremental parser for one SSE response read from a raw TCP
 * socket: the HTTP/1.1 status line and headers, then the body (chunked
 * transfer coding or not), then `text/event-stream` lines. It works on bytes
 * with `Uint8Array.indexOf` and integer arithmetic; no strings are made per
 * event. Only what the benchmark needs is decoded: a blank line dispatches an
 * event, and a `data:` line holding `~<sent µs>:<seq>~` marks that event as a
 * benchmark delivery. Lines end with LF or CRLF (a lone CR is not treated as a
 * line end: none of the measured servers sends one).
 */

const LF = 10;
const CR = 13;
const TILDE = 126;
const COLON = 58;

/** Where a parsed stream reports to. */
export interface StreamSink {
  /** The response head arrived; `status` is its HTTP status code. */
  established(stream: number, status: number): void;
  /** A benchmark message was dispatched on `stream`. */
  delivery(stream: number, seq: number, sentUs: number, nowMs: number): void;
  /** Any other event was dispatched (welcome, update, reset ...). */
  otherEvent(stream: number): void;
}

const enum Phase {
  Head,
  Size,
  SizeExt,
  Data,
  DataEnd,
  Raw,
  Done,
}

const decoder = new TextDecoder();

/** Parses one SSE response; feed it every byte read from the socket. */
export class SseStreamParser {
  readonly stream: number;
  readonly sink: StreamSink;
  status = 0;
  #phase: Phase = Phase.Head;
  #head: Uint8Array | null = null;
  #chunkLeft = 0;
  #carry: Uint8Array | null = null;
  #pendingSeq = -1;
  #pendingSent = 0;
  #pendingOther = false;

  /** A parser for stream number `stream`, reporting to `sink`. */
  constructor(stream: number, sink: StreamSink) {
    this.stream = stream;
    this.sink = sink;
  }

  /** Feeds `bytes[0..length)`, read at `nowMs` (epoch milliseconds). */
  push(bytes: Uint8Array, length: number, nowMs: number): void {
    let pos = 0;
    while (pos < length) {
      switch (this.#phase) {
        case Phase.Head:
          pos = this.#readHead(bytes, pos, length);
          break;
        case Phase.Raw:
          this.#lines(bytes, pos, length, nowMs);
          pos = length;
          break;
        case Phase.Size: {
          const b = bytes[pos++]!;
          if (b === LF) {
            if (this.#chunkLeft === 0) {
              this.#phase = Phase.Done;
              return;
            }
            this.#phase = Phase.Data;
          } else if (b === 59 /* ; */) {
            this.#phase = Phase.SizeExt;
          } else if (b !== CR) {
            this.#chunkLeft = this.#chunkLeft * 16 + hexValue(b);
          }
          break;
        }
        case Phase.SizeExt:
          if (bytes[pos++] === LF) {
            this.#phase = this.#chunkLeft === 0 ? Phase.Done : Phase.Data;
          }
          break;
        case Phase.Data: {
          const end = Math.min(length, pos + this.#chunkLeft);
          this.#lines(bytes, pos, end, nowMs);
          this.#chunkLeft -= end - pos;
          pos = end;
          if (this.#chunkLeft === 0) this.#phase = Phase.DataEnd;
          break;
        }
        case Phase.DataEnd:
          if (bytes[pos++] === LF) this.#phase = Phase.Size;
          break;
        case Phase.Done:
          return;
      }
    }
  }

  #readHead(bytes: Uint8Array, pos: number, length: number): number {
    const head = this.#head === null
      ? bytes.slice(pos, length)
      : concat(this.#head, bytes.subarray(pos, length));
    const before = this.#head === null ? 0 : this.#head.length;
    const end = headEnd(head);
    if (end === -1) {
      if (head.length > 65536) throw new Error("Cannot parse head: too long");
      this.#head = head;
      return length;
    }
    const text = decoder.decode(head.subarray(0, end));
    this.status = Number(text.slice(9, 12));
    const chunked = /\r\ntransfer-encoding:[ \t]*chunked/i.test(text);
    this.#phase = chunked ? Phase.Size : Phase.Raw;
    this.#head = null;
    this.sink.established(this.stream, this.status);
    return pos + (end + 4 - before);
  }

  #lines(bytes: Uint8Array, start: number, end: number, nowMs: number): void {
    let pos = start;
    if (this.#carry !== null) {
      const lf = bytes.indexOf(LF, start);
      if (lf === -1 || lf >= end) {
        this.#carry = concat(this.#carry, bytes.subarray(start, end));
        return;
      }
      const line = concat(this.#carry, bytes.subarray(start, lf));
      this.#carry = null;
      this.#line(line, 0, line.length, nowMs);
      pos = lf + 1;
    }
    while (pos < end) {
      const lf = bytes.indexOf(LF, pos);
      if (lf === -1 || lf >= end) {
        this.#carry = bytes.slice(pos, end);
        return;
      }
      this.#line(bytes, pos, lf, nowMs);
      pos = lf + 1;
    }
  }

  #line(b: Uint8Array, s: number, e: number, nowMs: number): void {
    if (e > s && b[e - 1] === CR) e--;
    if (e === s) {
      if (this.#pendingSeq >= 0) {
        this.sink.delivery(
          this.stream,
          this.#pendingSeq,
          this.#pendingSent,
          nowMs,
        );
        this.#pendingSeq = -1;
      } else if (this.#pendingOther) {
        this.sink.otherEvent(this.stream);
      }
      this.#pendingOther = false;
      return;
    }
    if (b[s] === COLON) return; // comment (heartbeat)
    this.#pendingOther = true;
    // "data:"
    if (
      e - s < 5 || b[s] !== 100 || b[s + 1] !== 97 || b[s + 2] !== 116 ||
      b[s + 3] !== 97 || b[s + 4] !== COLON
    ) return;
    let i = b.indexOf(TILDE, s + 5);
    if (i === -1 || i >= e) return;
    let sent = 0;
    let c = 0;
    for (i++; i < e && (c = b[i]!) !== COLON; i++) sent = sent * 10 + (c - 48);
    let seq = 0;
    for (i++; i < e && (c = b[i]!) !== TILDE; i++) seq = seq * 10 + (c - 48);
    if (c !== TILDE) return;
    this.#pendingSeq = seq;
    this.#pendingSent = sent;
  }
}

/** The index of the CRLFCRLF that ends an HTTP head, or -1. */
function headEnd(b: Uint8Array): number {
  for (let i = b.indexOf(LF, 3); i !== -1; i = b.indexOf(LF, i + 1)) {
    if (b[i - 1] === CR && b[i - 2] === LF && b[i - 3] === CR) return i - 3;
  }
  return -1;
}

function hexValue(b: number): number {
  if (b >= 48 && b <= 57) return b - 48;
  if (b >= 97 && b <= 102) return b - 87;
  if (b >= 65 && b <= 70) return b - 55;
  throw new Error(`Cannot parse chunk size: unexpected byte ${b}`);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The text a benchmark message carries: `~<sent µs>:<seq>~`. */
export function benchMessage(seq: number, sentUs: number): string {
  return `~${Math.round(sentUs)}:${seq}~`;
}
