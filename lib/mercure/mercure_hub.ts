/**
 * @module The Mercure side of the hub: streams of `/.well-known/mercure`,
 * which follow selectors rather than topic names, and a bounded log of the
 * latest updates across all topics for `Last-Event-ID` replay and publisher
 * id uniqueness. It listens to the same bus as the {@linkcode Hub}, so an
 * update published through either API reaches both; each update is encoded
 * once, never per subscriber. Slow readers are cut off by the same
 * {@linkcode Subscriber} queue bound.
 *
 * With an engine whose log outlives the instance (an {@linkcode EventLog}:
 * Redis, KV), the log is warmed from it before the first cursor is answered
 * or publisher id checked, and again after the bus lost events, so that a
 * process started after the updates knows their ids. Web-only.
 */
import { type Bus, DuplicateKeyError, type HubEvent } from "../bus.ts";
import type { EventLog } from "../engine.ts";
import { compareIds, type EventId, parseId } from "../event_id.ts";
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
  /** Streams this instance holds (with `otherStreams`) before `subscribe()` throws. @default {10000} */
  maxClients?: number;
  /** The other streams this instance holds (`/events`), counted against `maxClients`. @default {() => 0} */
  otherStreams?: () => number;
  /** Told the number of Mercure streams on this instance whenever it changes. @default {none} */
  onStreams?: (count: number) => void;
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
  /** The engine's log of all topics, read to learn updates this instance did not see live. @default {none} */
  log?: EventLog;
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
  /** The hub id, parsed: the log's order. */
  readonly id: EventId;
  readonly update: ReceivedUpdate;
  /** Encoded the first time a stream needs it, then shared. */
  frame: Uint8Array | null;
  seq: number;
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

const encoder = new TextEncoder();

function reaches(stream: Stream, update: ReceivedUpdate): boolean {
  if (!update.topics.some(stream.matches)) return false;
  return !update.private || update.topics.some(stream.mayRead);
}

/**
 * Mercure streams on one instance, fed by the bus.
 *
 * @example Publish and subscribe
 * ```ts
 * import { LocalBus } from "../bus.ts";
 * import { MercureHub } from "./mercure_hub.ts";
 * const hub = new MercureHub(new LocalBus(), { heartbeatMs: 0 });
 * const { stream } = await hub.subscribe({ matches: () => true, mayRead: () => false, lastEventId: null });
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
  readonly #otherStreams: () => number;
  readonly #onStreams: (count: number) => void;
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
  #log: Entry[] = [];
  /** Wire id → seq of the newest entry with it. */
  readonly #ids = new Map<string, number>();
  /** The hub ids in the log. */
  readonly #hubIds = new Set<string>();
  readonly #engineLog: EventLog | null;
  /** Whether the log holds what the engine's log held when last read. */
  #warmed = false;
  #warming: Promise<void> | null = null;
  readonly #unsubscribeLoss: () => void;
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
    this.#otherStreams = options.otherStreams ?? (() => 0);
    this.#onStreams = options.onStreams ?? (() => {});
    this.#historySize = options.historySize ?? 1000;
    this.#historyMaxBytes = options.historyMaxBytes ?? 64 * 1024 * 1024;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger ?? silentLogger;
    this.#subscriptions = options.subscriptions === true
      ? new SubscriptionIndex()
      : null;
    this.#engineLog = options.log ?? null;
    this.#unsubscribe = bus.subscribe((event) => this.#receive(event));
    // Events lost by the bus may still be in the engine's log: read it again.
    this.#unsubscribeLoss = bus.onLoss?.(() => this.#warmed = false) ??
      (() => {});
    const heartbeatMs = options.heartbeatMs ?? 15000;
    const heartbeat = encoder.encode(formatComment("keep-alive"));
    this.#timer = heartbeatMs > 0
      ? setInterval(() => {
        for (const s of this.#streams.keys()) s.write(heartbeat);
      }, heartbeatMs)
      : null;
  }

  /** Streams open on this instance. */
  get clients(): number {
    return this.#streams.size;
  }

  /** The active subscriptions under `prefix`; null when the feature is off. */
  subscriptions(prefix?: string): Subscription[] | null {
    return this.#subscriptions?.list(prefix) ?? null;
  }

  /** The wire id of the latest update this instance received, or `earliest`. */
  get lastEventId(): string {
    return this.#log.at(-1)?.update.wireId ?? EARLIEST;
  }

  /** Whether `id` is the wire id of a retained update. */
  has(id: string): boolean {
    return this.#ids.has(id);
  }

  /**
   * Publishes `update` to every instance; resolves with its wire id.
   *
   * @throws {DuplicateIdError} when its id is the id of a retained update
   */
  async publish(update: MercureUpdate): Promise<string> {
    if (update.id !== null && !this.#ids.has(update.id)) await this.warm();
    if (update.id !== null && this.#ids.has(update.id)) {
      throw new DuplicateIdError(update.id);
    }
    let event: HubEvent;
    try {
      // An engine that can claims the id in the publish itself (KV).
      event = await this.#bus.publish(
        toDraft(update),
        update.id === null ? {} : { unique: update.id },
      );
    } catch (error) {
      if (error instanceof DuplicateKeyError) {
        throw new DuplicateIdError(update.id!);
      }
      throw error;
    }
    return update.id ?? event.id;
  }

  /**
   * Opens a stream: with a cursor, the retained updates after it (all of
   * them for `earliest` or an id no longer known) first, then live ones. A
   * cursor this instance does not know waits for the engine's log to be read.
   *
   * @throws {HubFullError} when this instance holds `maxClients` streams
   * @throws {HubClosedError} when draining or closed
   */
  async subscribe(options: MercureSubscribeOptions): Promise<MercureStream> {
    const wanted = options.lastEventId;
    if (wanted !== null && !this.#ids.has(wanted)) await this.warm();
    if (this.#closed) throw new HubClosedError();
    if (this.#streams.size + this.#otherStreams() >= this.#maxClients) {
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
    this.#onStreams(this.#streams.size);
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
    subscriber.release(backlog.at(-1)!.id);
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
    this.#unsubscribeLoss();
  }

  /**
   * Reads the engine's log into this instance's (once, and again after a
   * loss); a failure is logged and the instance answers from what it has.
   * Cursors and publisher ids call it themselves; `lastEventId` does not.
   */
  warm(): Promise<void> {
    if (this.#engineLog === null || this.#warmed || this.#historySize === 0) {
      return Promise.resolve();
    }
    this.#warming ??= this.#read(this.#engineLog).finally(() =>
      this.#warming = null
    );
    return this.#warming;
  }

  async #read(log: EventLog): Promise<void> {
    // Set first: a loss while reading clears it, so the next cursor reads again.
    this.#warmed = true;
    try {
      const events = await log.tail({
        limit: this.#historySize,
        maxBytes: this.#historyMaxBytes,
      });
      this.#merge(events.map((event) => this.#entryOf(event)));
    } catch (error) {
      this.#warmed = false;
      this.#logger.log(
        "warn",
        "Cannot read the engine's log; answering Mercure cursors from this instance's memory",
        { error: String(error) },
      );
    }
  }

  /**
   * Adds the entries read from the engine that the log lacks. Live events
   * that arrived meanwhile are in it already; the result is in hub-id order,
   * each update once, within the bounds.
   */
  #merge(read: ReadonlyArray<Entry | null>): void {
    const fresh = read.filter((e): e is Entry =>
      e !== null && !this.#hubIds.has(e.update.hubId)
    );
    if (fresh.length === 0) return;
    const all = [...fresh, ...this.#log];
    all.sort((a, b) => compareIds(a.id, b.id));
    this.#log = [];
    this.#logBytes = 0;
    this.#ids.clear();
    this.#hubIds.clear();
    for (const entry of all) {
      entry.seq = ++this.#seq;
      this.#append(entry);
    }
  }

  /** The log entry of a bus event, or null (logged) when it is not readable. */
  #entryOf(event: HubEvent): Entry | null {
    const update = fromEvent(event);
    const id = parseId(event.id);
    if (update === null || id === null) {
      this.#logger.log("warn", "Cannot read a Mercure update; skipped", {
        id: event.id,
      });
      return null;
    }
    // Encoded only when a Mercure stream takes it: herald's own events cost
    // a small log entry here, never a second encoding, when none does.
    return { id, update, frame: null, seq: 0, bytes: entryBytes(update) };
  }

  /** Appends `entry` to the log, then drops the oldest past the bounds. */
  #append(entry: Entry): void {
    this.#log.push(entry);
    this.#logBytes += entry.bytes;
    this.#ids.set(entry.update.wireId, entry.seq);
    this.#hubIds.add(entry.update.hubId);
    while (
      this.#log.length > this.#historySize ||
      this.#logBytes > this.#historyMaxBytes
    ) {
      const old = this.#log.shift()!;
      this.#logBytes -= old.bytes;
      this.#hubIds.delete(old.update.hubId);
      if (this.#ids.get(old.update.wireId) === old.seq) {
        this.#ids.delete(old.update.wireId);
      }
    }
  }

  #receive(event: HubEvent): void {
    const entry = this.#entryOf(event);
    if (entry === null) return;
    const { update, id } = entry;
    this.#subscriptions?.apply(update);
    // An event read from the engine's log before the bus brought it here is
    // logged once; streams still get it (one that replayed it skips it).
    if (this.#historySize > 0 && !this.#hubIds.has(update.hubId)) {
      entry.seq = ++this.#seq;
      this.#append(entry);
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
    this.#onStreams(this.#streams.size);
    if (stream !== undefined) this.#announce(stream, false);
    this.#expiries.delete(subscriber);
  }
}
