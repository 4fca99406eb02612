/**
 * @module The hub: topics and their subscribers, publishing through the bus,
 * replay then live, and the shared timers for heartbeats and `update` events.
 * It knows events and streams, never a `Request`. Web-only.
 */
import type { Bus, HubEvent } from "./bus.ts";
import { type EventId, maxId, parseId } from "./event_id.ts";
import type { EventHistory, ReplayPlan } from "./history.ts";
import { type Logger, silentLogger } from "./log.ts";
import { EVENT_TYPE, type PublishRequest } from "./message.ts";
import { formatComment, formatEvent, formatRetry } from "./sse_format.ts";
import { type EndReason, Subscriber } from "./subscriber.ts";
import { FanOut } from "./fan_out.ts";

/** Options for {@linkcode Hub}; the config's values, with the same defaults. */
export interface HubOptions {
  /** Period of keep-alive comments in ms; 0 disables. @default {15000} */
  heartbeatMs?: number;
  /** Period of `update` events in ms; 0 disables. @default {3000} */
  updateIntervalMs?: number;
  /** The `retry:` sent when a stream opens, in ms. @default {5000} */
  retryMs?: number;
  /** Streams this isolate holds before `subscribe()` throws. @default {10000} */
  maxClients?: number;
  /** Bytes queued for one slow stream before it is cut off. @default {262144} */
  maxQueuedBytes?: number;
  /**
   * Events within this many ms of the last send go out together, one chunk
   * per topic (see fan_out.ts); 0 sends each event at once. "auto" grows the
   * window with the streams held: 20 µs per stream, from 1 to 50 ms.
   *
   * @default {"auto"}
   */
  coalesceMs?: number | "auto";
  /** Where drops and failures are written. @default {silentLogger} */
  logger?: Logger;
  /** The wall clock in ms. @default {Date.now} */
  now?: () => number;
}

/** Options for {@linkcode Hub.subscribe}: what the stream's token allows. */
export interface SubscribeOptions {
  /**
   * The asked topics whose private events this stream may receive (the route
   * decides from the token, once). Other private events never reach it.
   *
   * @default {[]}
   */
  privateTopics?: readonly string[];
  /**
   * When the stream's token expires, in ms since the epoch: the stream is
   * ended then with a short `retry:`, so the client comes back with a fresh
   * token or not at all.
   *
   * @default {Infinity}
   */
  expiresAt?: number;
}

/** The `retry:` a stream gets when its token expires, in ms. */
export const EXPIRED_RETRY_MS = 500;

/** Longest delay a timer takes (about 24.8 days); later expiries re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What `GET /stats` shows. */
export interface HubStats {
  /** Streams open across every isolate the bus can see. */
  readonly clients: number;
  /** Isolates the bus can see. */
  readonly isolates: number;
  /** Topics followed by at least one stream on this isolate. */
  readonly topics: number;
  /** Streams open on this isolate. */
  readonly localClients: number;
  /** Events this isolate received from the bus. */
  readonly events: number;
  /** Streams this isolate cut off because their reader fell behind. */
  readonly dropped: number;
  /** The name of the isolate that answered, when the bus has one. */
  readonly isolate: string | null;
  /** Events this isolate delivered out of order (a peer went silent too long). */
  readonly late: number;
}

/** Raised by {@linkcode Hub.subscribe} when this isolate holds `maxClients` streams. */
export class HubFullError extends Error {
  /** Makes the error for a hub at `limit` streams. */
  constructor(limit: number) {
    super(`Cannot subscribe: this server holds its limit of ${limit} streams`);
    this.name = "HubFullError";
  }
}

/** Raised by {@linkcode Hub.subscribe} once the hub is draining or closed. */
export class HubClosedError extends Error {
  /** Makes the error. */
  constructor() {
    super("Cannot subscribe: this server is shutting down");
    this.name = "HubClosedError";
  }
}

/**
 * Serialises event data as JSON, with U+FEFF escaped: some decoders (Deno's
 * streaming TextDecoder, so its EventSource) drop a BOM at the start of any
 * network chunk, and the escape decodes to the same string.
 */
function eventData(value: unknown): string {
  return JSON.stringify(value).replaceAll("\ufeff", "\\ufeff");
}

/**
 * The coalescing window for `streams` streams. A flush costs a few µs per
 * stream in the runtime's stream machinery (BENCHMARKS.md), so a window of
 * 20 µs per stream keeps flushes to a fraction of a core however fast events
 * come, while a quiet hub still sends each event at once.
 */
export function autoCoalesceMs(streams: number): number {
  return Math.min(50, Math.max(1, streams * 0.02));
}

/** How far in the future a Last-Event-ID may point before it counts as unknown. */
const FUTURE_TOLERANCE_MS = 60_000;

const encoder = new TextEncoder();

/**
 * Topics, subscribers and the timers they share.
 *
 * @example Subscribe and publish in one isolate
 * ```ts
 * import { Hub } from "./hub.ts";
 * import { LocalBus } from "./bus.ts";
 * import { MemoryHistory } from "./history.ts";
 * const hub = new Hub(new LocalBus(), new MemoryHistory(), { heartbeatMs: 0, updateIntervalMs: 0 });
 * const stream = hub.subscribe(["chat"], null);
 * await hub.publish({ message: "hi", topic: "chat", event: "chat" });
 * await stream.cancel();
 * await hub.close();
 * ```
 */
export class Hub {
  readonly #bus: Bus;
  readonly #history: EventHistory;
  readonly #retryMs: number;
  readonly #maxClients: number;
  readonly #maxQueuedBytes: number;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #topics = new Map<string, Set<Subscriber>>();
  /** Per topic, the subscribers that may receive its private events. */
  readonly #privateTopics = new Map<string, Set<Subscriber>>();
  readonly #expiries = new Map<Subscriber, ReturnType<typeof setTimeout>>();
  readonly #subscribers = new Set<Subscriber>();
  readonly #timers: Array<ReturnType<typeof setInterval>> = [];
  readonly #unsubscribe: () => void;
  readonly #fanOut: FanOut;
  readonly #heartbeat = encoder.encode(formatComment("keep-alive"));
  readonly #retryFrame: Uint8Array;
  readonly #welcomes = new Map<string, Uint8Array>();
  #welcomeSecond = 0;
  #events = 0;
  #dropped = 0;
  #closed = false;

  /** Starts the hub on `bus`, keeping events in `history`. */
  constructor(bus: Bus, history: EventHistory, options: HubOptions = {}) {
    this.#bus = bus;
    this.#history = history;
    this.#retryMs = options.retryMs ?? 5000;
    this.#maxClients = options.maxClients ?? 10000;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? 256 * 1024;
    this.#logger = options.logger ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.#retryFrame = encoder.encode(formatRetry(this.#retryMs));
    const coalesceMs = options.coalesceMs ?? "auto";
    this.#fanOut = new FanOut(this.#topics, {
      coalesceMs: coalesceMs === "auto"
        ? () => autoCoalesceMs(this.#subscribers.size)
        : coalesceMs,
    }, this.#privateTopics);
    this.#unsubscribe = bus.subscribe((event) => this.#receive(event));
    const heartbeatMs = options.heartbeatMs ?? 15000;
    const updateIntervalMs = options.updateIntervalMs ?? 3000;
    // One timer each for every stream, never one per stream.
    if (heartbeatMs > 0) {
      this.#timers.push(
        setInterval(() => this.#broadcast(this.#heartbeat), heartbeatMs),
      );
    }
    if (updateIntervalMs > 0) {
      this.#timers.push(
        setInterval(() => this.#sendUpdate(), updateIntervalMs),
      );
    }
  }

  /**
   * Opens a stream on `topics`. With `lastEventId`, the events retained after
   * it are replayed first (after an `event: reset` when some are lost), then
   * live events follow with no gap and no duplicate.
   *
   * @throws {HubFullError} when this isolate holds `maxClients` streams
   * @throws {HubClosedError} when the hub is draining or closed
   */
  subscribe(
    topics: readonly string[],
    lastEventId: string | null,
    options: SubscribeOptions = {},
  ): ReadableStream<Uint8Array> {
    if (this.#closed) throw new HubClosedError();
    if (this.#subscribers.size >= this.#maxClients) {
      throw new HubFullError(this.#maxClients);
    }
    const privateTopics = new Set(
      (options.privateTopics ?? []).filter((topic) => topics.includes(topic)),
    );
    const subscriber = new Subscriber(topics, {
      maxQueuedBytes: this.#maxQueuedBytes,
      onEnd: (s, reason) => this.#remove(s, reason),
      privateTopics,
    });
    this.#subscribers.add(subscriber);
    for (const topic of topics) addTo(this.#topics, topic, subscriber);
    for (const topic of privateTopics) {
      addTo(this.#privateTopics, topic, subscriber);
    }
    this.#bus.reportClients(this.#subscribers.size);
    this.#expireAt(subscriber, options.expiresAt ?? Number.POSITIVE_INFINITY);
    subscriber.write(this.#retryFrame);
    if (lastEventId === null) {
      subscriber.write(this.#welcome(topics, 0));
      return subscriber.stream;
    }
    // Registered first, so live events that arrive during the replay are held.
    subscriber.hold();
    const plan = this.#plan(topics, lastEventId);
    if (plan instanceof Promise) {
      plan.then(
        (resolved) => this.#replay(subscriber, resolved, lastEventId),
        (error) => {
          // Ending the stream makes the browser come back after `retry:` with
          // the same Last-Event-ID, when the history may answer again.
          this.#logger.log("warn", "Cannot replay history; ending the stream", {
            error: String(error),
          });
          subscriber.end();
        },
      );
    } else {
      this.#replay(subscriber, plan, lastEventId);
    }
    return subscriber.stream;
  }

  /** Publishes a validated request to every isolate; resolves with its id. */
  publish(request: PublishRequest): Promise<HubEvent> {
    const data = eventData({
      message: request.message,
      topic: request.topic,
      timestamp: new Date(this.#now()).toISOString(),
    });
    return this.#bus.publish({
      topic: request.topic,
      event: request.event,
      data,
      ...(request.private === true ? { private: true } : {}),
    });
  }

  /** Counts for `GET /stats`. */
  stats(): HubStats {
    const presence = this.#bus.presence();
    return {
      clients: presence.clients,
      isolates: presence.isolates,
      topics: this.#topics.size,
      localClients: this.#subscribers.size,
      events: this.#events,
      dropped: this.#dropped,
      isolate: this.#bus.node ?? null,
      late: this.#bus.late ?? 0,
    };
  }

  /**
   * Ends every stream with a `retry:` of about `retryMs` (spread a little so
   * clients do not all return in the same millisecond) and refuses new ones.
   * Browsers then reconnect elsewhere and replay by id.
   */
  drain(retryMs = 250): void {
    this.#closed = true;
    this.#fanOut.flush();
    for (const subscriber of [...this.#subscribers]) {
      const jittered = retryMs + Math.floor(Math.random() * retryMs);
      subscriber.end(encoder.encode(formatRetry(jittered)));
    }
  }

  /** Drains, stops the timers and leaves the bus. */
  close(): Promise<void> {
    this.drain();
    this.#fanOut.close();
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers.length = 0;
    this.#unsubscribe();
    return Promise.resolve();
  }

  #plan(
    topics: readonly string[],
    lastEventId: string,
  ): ReplayPlan | Promise<ReplayPlan> {
    const id = parseId(lastEventId);
    if (id !== null && id.ms > this.#now() + FUTURE_TOLERANCE_MS) {
      return { events: [], reset: { reason: "unknown-id", topics } };
    }
    return this.#history.replay(topics, lastEventId);
  }

  #expireAt(subscriber: Subscriber, expiresAt: number): void {
    if (expiresAt === Number.POSITIVE_INFINITY) return;
    const delay = Math.max(0, expiresAt - this.#now());
    const timer = setTimeout(() => {
      if (delay > MAX_TIMER_MS) {
        this.#expireAt(subscriber, expiresAt);
        return;
      }
      this.#expiries.delete(subscriber);
      subscriber.end(encoder.encode(
        formatComment("token expired") + formatRetry(EXPIRED_RETRY_MS),
      ));
    }, Math.min(delay, MAX_TIMER_MS));
    this.#expiries.set(subscriber, timer);
  }

  #replay(
    subscriber: Subscriber,
    unfiltered: ReplayPlan,
    lastEventId: string,
  ): void {
    if (subscriber.ended) return;
    // Replay honours the same grants as live delivery.
    const plan: ReplayPlan = {
      reset: unfiltered.reset,
      events: unfiltered.events.filter((event) =>
        event.private !== true || subscriber.privateTopics.has(event.topic)
      ),
    };
    if (plan.reset !== null) {
      subscriber.write(encoder.encode(formatEvent({
        event: EVENT_TYPE.Reset,
        data: eventData({
          reason: plan.reset.reason,
          lastEventId,
          topics: plan.reset.topics,
          message: plan.reset.reason === "unknown-id"
            ? "The last event id is not known here: refetch your state"
            : "Some events after the last event id are no longer retained: refetch your state",
        }),
      })));
    }
    subscriber.write(this.#welcome(subscriber.topics, plan.events.length));
    let sent: EventId | null = plan.reset?.reason === "unknown-id"
      ? null
      : parseId(lastEventId);
    for (const event of plan.events) {
      subscriber.write(this.#frame(event));
      const id = parseId(event.id);
      if (id !== null) sent = sent === null ? id : maxId(sent, id);
    }
    subscriber.release(sent);
  }

  #welcome(topics: readonly string[], replayed: number): Uint8Array {
    if (replayed > 0) return this.#encodeWelcome(topics, replayed);
    // A burst of connects shares the welcome of the same second and topics.
    const second = Math.floor(this.#now() / 1000);
    if (second !== this.#welcomeSecond || this.#welcomes.size > 256) {
      this.#welcomes.clear();
      this.#welcomeSecond = second;
    }
    const key = topics.join("\n");
    let bytes = this.#welcomes.get(key);
    if (bytes === undefined) {
      bytes = this.#encodeWelcome(topics, 0);
      this.#welcomes.set(key, bytes);
    }
    return bytes;
  }

  #encodeWelcome(topics: readonly string[], replayed: number): Uint8Array {
    return encoder.encode(formatEvent({
      event: EVENT_TYPE.System,
      data: eventData({
        message: replayed > 0
          ? `Connected to herald; replaying ${replayed} missed events`
          : "Connected to herald",
        topics,
        retry: this.#retryMs,
        isolate: this.#bus.node ?? null,
        timestamp: new Date(this.#now()).toISOString(),
      }),
    }));
  }

  #frame(event: HubEvent): Uint8Array {
    return encoder.encode(
      formatEvent({ event: event.event, id: event.id, data: event.data }),
    );
  }

  #receive(event: HubEvent): void {
    this.#events++;
    this.#history.record(event);
    const isPrivate = event.private === true;
    if (!(isPrivate ? this.#privateTopics : this.#topics).has(event.topic)) {
      return;
    }
    const id = parseId(event.id);
    if (id === null) return;
    // Encoded once; every subscriber queues the same bytes.
    this.#fanOut.send(event.topic, id, this.#frame(event), isPrivate);
  }

  #broadcast(bytes: Uint8Array): void {
    for (const subscriber of this.#subscribers) subscriber.write(bytes);
  }

  #sendUpdate(): void {
    if (this.#subscribers.size === 0) return;
    this.#broadcast(encoder.encode(formatEvent({
      event: EVENT_TYPE.Update,
      data: eventData({
        timestamp: new Date(this.#now()).toISOString(),
        clients: this.#bus.presence().clients,
      }),
    })));
  }

  #remove(subscriber: Subscriber, reason: EndReason): void {
    this.#subscribers.delete(subscriber);
    for (const topic of subscriber.topics) {
      removeFrom(this.#topics, topic, subscriber);
    }
    for (const topic of subscriber.privateTopics) {
      removeFrom(this.#privateTopics, topic, subscriber);
    }
    const expiry = this.#expiries.get(subscriber);
    if (expiry !== undefined) {
      clearTimeout(expiry);
      this.#expiries.delete(subscriber);
    }
    if (reason === "overflow") {
      this.#dropped++;
      this.#logger.log("warn", "Dropped subscriber: queue full", {
        limit: this.#maxQueuedBytes,
        topics: subscriber.topics,
      });
    }
    this.#bus.reportClients(this.#subscribers.size);
  }
}

function addTo(
  index: Map<string, Set<Subscriber>>,
  topic: string,
  subscriber: Subscriber,
): void {
  let set = index.get(topic);
  if (set === undefined) {
    set = new Set();
    index.set(topic, set);
  }
  set.add(subscriber);
}

function removeFrom(
  index: Map<string, Set<Subscriber>>,
  topic: string,
  subscriber: Subscriber,
): void {
  const set = index.get(topic);
  set?.delete(subscriber);
  if (set?.size === 0) index.delete(topic);
}
