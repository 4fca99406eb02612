/**
 * @module The Mercure side of the hub: streams of `/.well-known/mercure`,
 * which follow selectors rather than topic names, and a bounded log of the
 * latest updates across all topics for `Last-Event-ID` replay and publisher
 * id uniqueness. It listens to the same bus as the {@linkcode Hub}, so an
 * update published through either API reaches both; each update is encoded
 * once, never per subscriber. Slow readers are cut off by the same
 * {@linkcode Subscriber} queue bound. Web-only.
 */
import type { Bus, HubEvent } from "../bus.ts";
import { type EventId, parseId } from "../event_id.ts";
import { HubClosedError, HubFullError } from "../hub.ts";
import { type Logger, silentLogger } from "../log.ts";
import { formatComment } from "../sse_format.ts";
import { Subscriber } from "../subscriber.ts";
import type { MercureSelector, TopicMatcher } from "./selector.ts";
import {
  type Subscription,
  SubscriptionIndex,
  subscriptionUpdates,
} from "./subscriptions.ts";
import {
  fromEvent,
  mercureFrame,
  type MercureUpdate,
  type ReceivedUpdate,
  toDraft,
} from "./update.ts";
import { Expiries } from "../expiries.ts";

/** The cursor that means "everything retained". */
export const EARLIEST = "earliest";

/** Options for {@linkcode MercureHub}. */
export interface MercureHubOptions {
  /** Period of keep-alive comments in ms; 0 disables. @default {15000} */
  heartbeatMs?: number;
  /** Bytes queued for one slow stream before it is cut off. @default {262144} */
  maxQueuedBytes?: number;
  /** Mercure streams this isolate holds before `subscribe()` throws. @default {10000} */
  maxClients?: number;
  /** Updates kept (all topics together) for replay and id uniqueness. @default {1000} */
  historySize?: number;
  /**
   * Bytes those updates may hold (their text and, once a stream took one,
   * its encoded frame, counted ahead); past it the oldest go, so large
   * updates cannot grow memory past the budget. @default {67108864}
   */
  historyMaxBytes?: number;
  /** Where failures are written. @default {silentLogger} */
  logger?: Logger;
  /** The wall clock in ms. @default {Date.now} */
  now?: () => number;
  /** Publish subscription updates when streams open and end (`MERCURE_SUBSCRIPTIONS`). @default {false} */
  subscriptions?: boolean;
}

/** What a Mercure stream follows and may read. */
export interface MercureSubscribeOptions {
  /** Whether the stream asked for `topic`. */
  readonly matches: TopicMatcher;
  /** Whether its token grants `topic` (private updates). */
  readonly mayRead: TopicMatcher;
  /** The cursor it sent (`earliest` for all retained); null: live only. */
  readonly lastEventId: string | null;
  /** When its token expires, in ms since the epoch. @default {Infinity} */
  readonly expiresAt?: number;
  /** Its selectors as asked, for subscription updates. @default {[]} */
  readonly selectors?: readonly MercureSelector[];
  /** Its token's payload, shown in subscription updates. @default {null} */
  readonly payload?: unknown;
}

/** A stream and where its replay started. */
export interface MercureStream {
  /** The SSE bytes. */
  readonly stream: ReadableStream<Uint8Array>;
  /** For `Mercure-Last-Event-ID`: the cursor honoured, or `earliest`; null when none was sent. */
  readonly replayedAfter: string | null;
}

/** Raised by {@linkcode MercureHub.publish} for an id already in the retained history. */
export class DuplicateIdError extends Error {
  /** Makes the error for `id`. */
  constructor(id: string) {
    super(`Cannot publish: the id ${JSON.stringify(id)} is already in use`);
    this.name = "DuplicateIdError";
  }
}

interface Entry {
  readonly update: ReceivedUpdate;
  /** Encoded the first time a stream needs it, then shared. */
  frame: Uint8Array | null;
  readonly seq: number;
  /** An upper bound of what it holds: strings at 2 bytes a unit, the frame at 3. */
  readonly bytes: number;
}

/** Bookkeeping per entry beyond its text (objects, map slot, frame headers). */
const ENTRY_OVERHEAD_BYTES = 512;

function entryBytes(update: ReceivedUpdate): number {
  return 5 * (update.data.length + update.wireId.length) +
    ENTRY_OVERHEAD_BYTES;
}

/** The entry's bytes, encoded once. */
function frameOf(entry: Entry): Uint8Array {
  return entry.frame ??= mercureFrame(entry.update);
}

interface Stream {
  readonly subscriber: Subscriber;
  readonly matches: TopicMatcher;
  readonly mayRead: TopicMatcher;
  /** Its id and selectors, when subscription updates are on. */
  readonly subscription: {
    readonly id: string;
    readonly selectors: readonly MercureSelector[];
    readonly payload: unknown;
  } | null;
}

/** The hub id of a log entry (checked to parse when it was logged). */
function entry(last: Entry): EventId {
  return parseId(last.update.hubId)!;
}
const encoder = new TextEncoder();

function reaches(stream: Stream, update: ReceivedUpdate): boolean {
  if (!update.topics.some(stream.matches)) return false;
  return !update.private || update.topics.some(stream.mayRead);
}

/**
 * Mercure streams on one isolate, fed by the bus.
 *
 * @example Publish and subscribe
 * ```ts
 * import { LocalBus } from "../bus.ts";
 * import { MercureHub } from "./mercure_hub.ts";
 * const hub = new MercureHub(new LocalBus(), { heartbeatMs: 0 });
 * const { stream } = hub.subscribe({ matches: () => true, mayRead: () => false, lastEventId: null });
 * const id = await hub.publish({ topics: ["/a"], data: "x", id: "1", type: null, retry: null, private: false });
 * if (id !== "1") throw new Error();
 * await stream.cancel();
 * hub.close();
 * ```
 */
export class MercureHub {
  readonly #bus: Bus;
  readonly #maxQueuedBytes: number;
  readonly #maxClients: number;
  readonly #historySize: number;
  readonly #historyMaxBytes: number;
  #logBytes = 0;
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #streams = new Map<Subscriber, Stream>();
  /** Streams that end when their token expires: one timer for all of them. */
  readonly #expiries = new Expiries<Subscriber>((subscriber) =>
    subscriber.end()
  );
  readonly #log: Entry[] = [];
  readonly #ids = new Map<string, number>();
  readonly #unsubscribe: () => void;
  readonly #timer: ReturnType<typeof setInterval> | null;
  readonly #opening = encoder.encode(formatComment());
  readonly #subscriptions: SubscriptionIndex | null;
  #seq = 0;
  #closed = false;

  /** Starts listening to `bus`. */
  constructor(bus: Bus, options: MercureHubOptions = {}) {
    this.#bus = bus;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? 256 * 1024;
    this.#maxClients = options.maxClients ?? 10000;
    this.#historySize = options.historySize ?? 1000;
    this.#historyMaxBytes = options.historyMaxBytes ?? 64 * 1024 * 1024;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger ?? silentLogger;
    this.#subscriptions = options.subscriptions === true
      ? new SubscriptionIndex()
      : null;
    this.#unsubscribe = bus.subscribe((event) => this.#receive(event));
    const heartbeatMs = options.heartbeatMs ?? 15000;
    const heartbeat = encoder.encode(formatComment("keep-alive"));
    this.#timer = heartbeatMs > 0
      ? setInterval(() => {
        for (const s of this.#streams.keys()) s.write(heartbeat);
      }, heartbeatMs)
      : null;
  }

  /** Streams open on this isolate. */
  get clients(): number {
    return this.#streams.size;
  }

  /** The active subscriptions under `prefix`; null when the feature is off. */
  subscriptions(prefix?: string): Subscription[] | null {
    return this.#subscriptions?.list(prefix) ?? null;
  }

  /** The wire id of the latest update this isolate received, or `earliest`. */
  get lastEventId(): string {
    return this.#log.at(-1)?.update.wireId ?? EARLIEST;
  }

  /** Whether `id` is the wire id of a retained update. */
  has(id: string): boolean {
    return this.#ids.has(id);
  }

  /**
   * Publishes `update` to every isolate; resolves with its wire id.
   *
   * @throws {DuplicateIdError} when its id is the id of a retained update
   */
  async publish(update: MercureUpdate): Promise<string> {
    if (update.id !== null && this.#ids.has(update.id)) {
      throw new DuplicateIdError(update.id);
    }
    const event = await this.#bus.publish(toDraft(update));
    return update.id ?? event.id;
  }

  /**
   * Opens a stream: with a cursor, the retained updates after it (all of
   * them for `earliest` or an id no longer known) first, then live ones.
   *
   * @throws {HubFullError} when this isolate holds `maxClients` streams
   * @throws {HubClosedError} when draining or closed
   */
  subscribe(options: MercureSubscribeOptions): MercureStream {
    if (this.#closed) throw new HubClosedError();
    if (this.#streams.size >= this.#maxClients) {
      throw new HubFullError(this.#maxClients);
    }
    const subscriber = new Subscriber([], {
      maxQueuedBytes: this.#maxQueuedBytes,
      onEnd: (s) => this.#remove(s),
    });
    const stream: Stream = {
      subscriber,
      matches: options.matches,
      mayRead: options.mayRead,
      subscription: this.#subscriptions === null ? null : {
        id: `urn:uuid:${crypto.randomUUID()}`,
        selectors: options.selectors ?? [],
        payload: options.payload ?? null,
      },
    };
    this.#streams.set(subscriber, stream);
    this.#announce(stream, true);
    this.#expiries.set(
      subscriber,
      options.expiresAt ?? Number.POSITIVE_INFINITY,
    );
    // A comment first, so the headers and a first chunk leave at once.
    subscriber.write(this.#opening);
    const cursor = options.lastEventId;
    if (cursor === null) {
      return { stream: subscriber.stream, replayedAfter: null };
    }
    const seq = cursor === EARLIEST ? undefined : this.#ids.get(cursor);
    const backlog = this.#log.filter((entry) =>
      (seq === undefined || entry.seq > seq) && reaches(stream, entry.update)
    );
    if (backlog.length > 0) {
      // Live updates wait behind the replay, which is written as fast as
      // the reader takes it (a backlog may be larger than the queue).
      subscriber.hold();
      void this.#replay(subscriber, backlog).catch((error) => {
        this.#logger.log("warn", "Cannot write the replay; ending the stream", {
          error: String(error),
        });
        subscriber.end();
      });
    }
    return {
      stream: subscriber.stream,
      replayedAfter: seq === undefined ? EARLIEST : cursor,
    };
  }

  async #replay(
    subscriber: Subscriber,
    backlog: readonly Entry[],
  ): Promise<void> {
    for (const entry of backlog) {
      const frame = frameOf(entry);
      if (
        !subscriber.fits(frame.byteLength) &&
        !await subscriber.room(frame.byteLength)
      ) return;
      subscriber.write(frame);
    }
    subscriber.release(entry(backlog.at(-1)!));
  }

  /** Ends every stream and refuses new ones; clients reconnect with their last id. */
  drain(): void {
    this.#closed = true;
    for (const subscriber of [...this.#streams.keys()]) subscriber.end();
  }

  /** Drains, stops the heartbeat and leaves the bus. */
  close(): void {
    this.drain();
    this.#expiries.close();
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#unsubscribe();
  }

  #receive(event: HubEvent): void {
    const update = fromEvent(event);
    const id = parseId(event.id);
    if (update === null || id === null) {
      this.#logger.log("warn", "Cannot read a Mercure update; skipped", {
        id: event.id,
      });
      return;
    }
    this.#subscriptions?.apply(update);
    // Encoded only when a Mercure stream takes it: herald's own events cost
    // a small log entry here, never a second encoding, when none does.
    const entry: Entry = {
      update,
      frame: null,
      seq: ++this.#seq,
      bytes: entryBytes(update),
    };
    if (this.#historySize > 0) {
      this.#log.push(entry);
      this.#logBytes += entry.bytes;
      this.#ids.set(update.wireId, entry.seq);
      while (
        this.#log.length > this.#historySize ||
        this.#logBytes > this.#historyMaxBytes
      ) {
        const old = this.#log.shift()!;
        this.#logBytes -= old.bytes;
        if (this.#ids.get(old.update.wireId) === old.seq) {
          this.#ids.delete(old.update.wireId);
        }
      }
    }
    for (const stream of this.#streams.values()) {
      if (reaches(stream, update)) {
        stream.subscriber.deliver(id, frameOf(entry));
      }
    }
  }

  /** Publishes the stream's subscription updates (failures are logged, never thrown). */
  #announce(stream: Stream, active: boolean): void {
    const subscription = stream.subscription;
    if (subscription === null) return;
    const updates = subscriptionUpdates(
      subscription.selectors,
      subscription.id,
      subscription.payload,
      active,
    );
    for (const update of updates) {
      this.#bus.publish(toDraft(update)).catch((error) => {
        this.#logger.log("warn", "Cannot publish a subscription update", {
          error: String(error),
        });
      });
    }
  }

  #remove(subscriber: Subscriber): void {
    const stream = this.#streams.get(subscriber);
    this.#streams.delete(subscriber);
    if (stream !== undefined) this.#announce(stream, false);
    this.#expiries.delete(subscriber);
  }
}
