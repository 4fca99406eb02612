/**
 * @module One open event stream: a `ReadableStream` of SSE bytes with a
 * bounded queue, the replay-then-live handoff, and a single teardown path.
 * A server adapter that can write to its socket itself may divert the
 * stream to a {@linkcode StreamSink} once the queue is empty
 * ({@linkcode divertStream}): the bytes then skip the stream's queue and
 * the reader's pump, and the sink's own buffer is the bounded queue. It
 * knows nothing of topics' routing or HTTP. Web-only.
 */
import { compareIds, type EventId } from "./event_id.ts";

/** Why a subscriber ended. */
export type EndReason = "cancel" | "overflow" | "drain";

/** Options for {@linkcode Subscriber}. */
export interface SubscriberOptions {
  /**
   * Bytes that may wait for a slow reader. Past it, the stream is cut off so
   * memory does not grow with a reader that stopped reading.
   *
   * @default {262144}
   */
  maxQueuedBytes?: number;
  /** Called once, whatever ends the stream (cancel, overflow or drain). */
  onEnd?: (subscriber: Subscriber, reason: EndReason) => void;
  /**
   * The followed topics whose private events this stream may receive, decided
   * once from its token when it subscribes.
   *
   * @default {none}
   */
  privateTopics?: ReadonlySet<string>;
  /** Adds the bytes this stream queues to `bytes` (shared by the hub's streams). @default {none} */
  written?: { bytes: number };
}

const NO_TOPICS: ReadonlySet<string> = new Set();

/**
 * Where a diverted stream writes: a connection's own write buffer. herald
 * writes every chunk at once and cuts the stream off when `queuedBytes`
 * passes its bound, as it does with its stream's queue.
 */
export interface StreamSink {
  /** Sends `bytes` (buffering what the socket cannot take yet). */
  write(bytes: Uint8Array): void;
  /** Bytes written but not yet taken by the connection. */
  readonly queuedBytes: number;
  /** Ends the body cleanly after what was written. */
  close(): void;
  /** Drops the connection at once (a reader too slow). */
  abort(): void;
}

/** The subscriber behind each stream it made, for {@linkcode divertStream}. */
const BY_STREAM = new WeakMap<ReadableStream<Uint8Array>, Subscriber>();

/**
 * Diverts `stream` (a subscriber's body) to `sink`: from now on its bytes go
 * straight to `sink.write`. Returns "diverted", "queued" when chunks are
 * still queued in the stream (read them, write them to the sink, and ask
 * again: nothing is reordered, since the check and the switch are one
 * synchronous step), or "no" when `stream` is not a subscriber's or has
 * ended. Call {@linkcode Subscriber.drained} when the sink's buffer drains.
 */
export function divertStream(
  stream: ReadableStream<Uint8Array>,
  sink: StreamSink,
): "diverted" | "queued" | "no" {
  const subscriber = BY_STREAM.get(stream);
  if (subscriber === undefined) return "no";
  return subscriber.divert(sink);
}

/** The subscriber a diverted stream belongs to (for `drained()`). */
export function subscriberOf(
  stream: ReadableStream<Uint8Array>,
): Subscriber | undefined {
  return BY_STREAM.get(stream);
}

/**
 * The reason a slow reader's stream is errored with. A string, not an Error:
 * Deno prints whatever a response body errors with, and one line is enough
 * next to the hub's structured log line.
 */
export function slowReaderReason(limit: number): string {
  return `herald: dropped a slow reader (more than ${limit} bytes queued)`;
}

/** The queue counts bytes; one function shared by every stream. */
function byteLength(chunk: Uint8Array): number {
  return chunk.byteLength;
}

/**
 * A stream of SSE bytes for one client.
 *
 * Live events reach it through {@linkcode Subscriber.deliver}. While a replay
 * is being written, {@linkcode Subscriber.hold} keeps live events aside, and
 * {@linkcode Subscriber.release} then sends the held ones that come after the
 * replay, so that nothing is sent twice and nothing is skipped.
 */
export class Subscriber {
  /** The topics this stream follows. */
  readonly topics: readonly string[];
  /** The bytes to send as the response body. */
  readonly stream: ReadableStream<Uint8Array>;
  /** The followed topics whose private events this stream may receive. */
  readonly privateTopics: ReadonlySet<string>;
  readonly #maxQueuedBytes: number;
  readonly #onEnd: (subscriber: Subscriber, reason: EndReason) => void;
  readonly #written: { bytes: number } | null;
  #controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  #sink: StreamSink | null = null;
  #ended = false;
  #held: Array<readonly [EventId, Uint8Array]> | null = null;
  #heldBytes = 0;
  /** A replay waiting for the reader to take what is queued. */
  #roomWaiter: { bytes: number; resolve: (open: boolean) => void } | null =
    null;
  /** While set, live events at or before this id were already sent: skip them. */
  #after: EventId | null = null;

  /** Opens the stream; nothing is written until the hub writes. */
  constructor(topics: readonly string[], options: SubscriberOptions = {}) {
    this.topics = topics;
    this.privateTopics = options.privateTopics ?? NO_TOPICS;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? 256 * 1024;
    this.#onEnd = options.onEnd ?? (() => {});
    this.#written = options.written ?? null;
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      // Called as the reader takes chunks: a waiting replay may go on.
      pull: () => this.#checkRoom(),
      cancel: () => this.#end("cancel"),
    }, {
      highWaterMark: this.#maxQueuedBytes,
      size: byteLength,
    });
    BY_STREAM.set(this.stream, this);
  }

  /** See {@linkcode divertStream}. */
  divert(sink: StreamSink): "diverted" | "queued" | "no" {
    const controller = this.#controller;
    if (this.#ended || controller === null || this.#sink !== null) return "no";
    if ((controller.desiredSize ?? 0) < this.#maxQueuedBytes) return "queued";
    this.#sink = sink;
    return "diverted";
  }

  /** The sink's buffer drained: a replay waiting for room may go on. */
  drained(): void {
    this.#checkRoom();
  }

  /** Whether the stream has ended. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Queues bytes that carry no id (retry, comments, system and update events). */
  write(bytes: Uint8Array): void {
    if (this.#ended) return;
    const sink = this.#sink;
    if (sink !== null) {
      sink.write(bytes);
      if (this.#written !== null) this.#written.bytes += bytes.byteLength;
      if (sink.queuedBytes > this.#maxQueuedBytes) this.#overflow();
      return;
    }
    const controller = this.#controller;
    if (controller === null) return;
    if (!this.#enqueue(controller, bytes)) return;
    if ((controller.desiredSize ?? 0) < 0) this.#overflow();
  }

  /** Cuts a slow reader off: the stream errors (or the sink drops the connection). */
  #overflow(): void {
    if (this.#sink !== null) this.#sink.abort();
    else this.#controller?.error(slowReaderReason(this.#maxQueuedBytes));
    this.#end("overflow");
  }

  /**
   * Resolves true once `bytes` more fit in the queue (or the queue is empty),
   * false if the stream ends first. A replay writes through this, so a
   * backlog larger than the queue reaches a reader that keeps reading
   * instead of cutting it off.
   */
  room(bytes: number): Promise<boolean> {
    if (this.#ended) return Promise.resolve(false);
    if (this.fits(bytes)) return Promise.resolve(true);
    return new Promise((resolve) => {
      this.#roomWaiter = { bytes, resolve };
    });
  }

  /** Queues a live event, unless it is held for a replay or was already sent. */
  deliver(id: EventId, bytes: Uint8Array): void {
    if (this.#held !== null) {
      this.#held.push([id, bytes]);
      this.#heldBytes += bytes.byteLength;
      // Live events held behind a replay count against the same bound.
      if (this.#heldBytes > this.#maxQueuedBytes) this.#overflow();
      return;
    }
    if (this.#after !== null) {
      if (compareIds(id, this.#after) <= 0) return;
      this.#after = null;
    }
    this.write(bytes);
  }

  /**
   * Whether a joined batch of its one topic's events can be written as is:
   * one topic (so no order across topics to keep) and no replay handoff under
   * way (so no event to hold or skip). Such a subscriber takes `write()`.
   */
  get takesBatches(): boolean {
    return this.topics.length === 1 && this.#held === null &&
      this.#after === null;
  }

  /** Starts holding live events while a replay is written. */
  hold(): void {
    this.#held ??= [];
  }

  /**
   * Ends the hold: sends the held events after `sent` (the last id the client
   * has, from its Last-Event-ID or the replay), then goes live.
   */
  release(sent: EventId | null): void {
    const held = this.#held ?? [];
    this.#held = null;
    this.#heldBytes = 0;
    this.#after = sent;
    for (const [id, bytes] of held) this.deliver(id, bytes);
  }

  /** Sends `last` (e.g. a short `retry:`), then closes the stream cleanly. */
  end(last?: Uint8Array): void {
    const sink = this.#sink;
    if (!this.#ended && sink !== null) {
      if (last !== undefined) this.write(last);
      if (!this.#ended) sink.close();
      this.#end("drain");
      return;
    }
    const controller = this.#controller;
    if (this.#ended || controller === null) return;
    if (last === undefined || this.#enqueue(controller, last)) {
      try {
        controller.close();
      } catch {
        // The runtime closed it first (the socket went away): nothing to flush.
      }
    }
    this.#end("drain");
  }

  /** Whether `bytes` more fit in the queue now (always, when it is empty). */
  fits(bytes: number): boolean {
    const free = this.#sink !== null
      ? this.#maxQueuedBytes - this.#sink.queuedBytes
      : this.#controller?.desiredSize ?? 0;
    return free >= bytes || free >= this.#maxQueuedBytes;
  }

  #checkRoom(): void {
    const waiter = this.#roomWaiter;
    if (waiter === null || !this.fits(waiter.bytes)) return;
    this.#roomWaiter = null;
    waiter.resolve(true);
  }

  /**
   * Enqueues, or ends the subscriber when the runtime has already closed the
   * stream (a socket that went away before `cancel()` reached us).
   */
  #enqueue(
    controller: ReadableStreamDefaultController<Uint8Array>,
    bytes: Uint8Array,
  ): boolean {
    try {
      controller.enqueue(bytes);
      if (this.#written !== null) this.#written.bytes += bytes.byteLength;
      return true;
    } catch {
      this.#end("cancel");
      return false;
    }
  }

  /** The one teardown path: every way a stream ends goes through here once. */
  #end(reason: EndReason): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#held = null;
    this.#roomWaiter?.resolve(false);
    this.#roomWaiter = null;
    this.#onEnd(this, reason);
  }
}
