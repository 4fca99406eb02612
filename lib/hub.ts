/**
 * @module The hub: topics and their subscribers, publishing through the bus,
 * replay then live, and the shared timers for heartbeats and `update` events.
 * It knows events and streams, never a `Request`. Web-only.
 */
import {
  type Bus,
  type BusLoss,
  BusUnavailableError,
  type DeliveryCounts,
  type HubEvent,
} from "./bus.ts";
import { type EventId, maxId, parseId } from "./event_id.ts";
import type { EventHistory, HistoryCounts, ReplayPlan } from "./history.ts";
import { type Logger, silentLogger } from "./log.ts";
import { jsonText } from "./json_text.ts";
import { EVENT_TYPE, type PublishRequest } from "./message.ts";
import { formatComment, formatEvent, formatRetry } from "./sse_format.ts";
import { type EndReason, Subscriber } from "./subscriber.ts";
import { FanOut } from "./fan_out.ts";
import { heraldFrame, MERCURE_EVENT } from "./mercure/update.ts";
import { PublishCounts } from "./metrics.ts";
import { Expiries } from "./expiries.ts";

/** Options for {@linkcode Hub}; the config's values, with the same defaults. */
export interface HubOptions {
  /** Period of keep-alive comments in ms; 0 disables. @default {15000} */
  heartbeatMs?: number;
  /** Period of `update` events in ms; 0 disables. @default {3000} */
  updateIntervalMs?: number;
  /** The `retry:` sent when a stream opens, in ms. @default {5000} */
  retryMs?: number;
  /** Streams this instance holds before `subscribe()` throws. @default {10000} */
  maxClients?: number;
  /** Bytes queued for one slow stream before it is cut off. @default {262144} */
  maxQueuedBytes?: number;
  /**
   * Events within this many ms of the last send go out together, one chunk
   * per topic (see fan_out.ts); 0 sends each event at once. "auto" grows the
   * window with the streams of the process (every isolate's, when the bus
   * can tell; else this one's, `/events` and Mercure alike, as the bus
   * counts them): 20 µs per stream, from 1 to 50 ms.
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

/** What `GET /stats` shows. */
export interface HubStats {
  /** Streams open across every instance the bus can see (both endpoints). */
  readonly clients: number;
  /** Instances the bus can see. */
  readonly instances: number;
  /** The same as `instances`, under the name the HTTP contract publishes. */
  readonly isolates: number;
  /** Topics followed by at least one stream on this instance. */
  readonly topics: number;
  /** Streams open on this instance, `/events` and `/.well-known/mercure` together. */
  readonly localClients: number;
  /** Of those, the streams of `/.well-known/mercure`. */
  readonly mercureClients: number;
  /** Events this instance received from the bus. */
  readonly events: number;
  /** Streams this instance cut off because their reader fell behind. */
  readonly dropped: number;
  /** The name of the instance that answered, when the bus has one. */
  readonly instance: string | null;
  /** The same as `instance`, under the name welcomes and stats first published. */
  readonly isolate: string | null;
  /** Events this instance delivered out of order (a peer went silent too long). */
  readonly late: number;
  /** Times the bus lost events for good and told the streams with a reset. */
  readonly losses: number;
}

/** Raised by {@linkcode Hub.subscribe} when this instance holds `maxClients` streams. */
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
 * Serialises event data as JSON that is safe to put into HTML: `<`, `>`,
 * `&`, U+2028, U+2029 and U+FEFF travel as `\uXXXX` ({@linkcode jsonText}).
 * Runs once per event, never per subscriber.
 */
function eventData(value: unknown): string {
  return jsonText(value);
}

/**
 * The coalescing window for `streams` streams. A flush costs a few µs per
 * stream in the runtime's stream machinery (BENCHMARKS.md), so a window of
 * 20 µs per stream keeps flushes to a fraction of a core however fast events
 * come, while a quiet hub still sends each event at once.
 *
 * `streams` are those of the whole process when the bus can tell
 * (`Bus.processClients`): its isolates share the machine's cores, and an
 * isolate that sized its window on its own share of the streams would write
 * to each socket as often with fewer events per write. Two isolates with 500
 * streams each then batch like one with 1,000, and a client's latency does
 * not depend on how many isolates serve it.
 */
export function autoCoalesceMs(streams: number): number {
  return Math.min(50, Math.max(1, streams * 0.02));
}

/**
 * The drain's reconnect hint, before jitter. A restart of one process behind
 * a proxy leaves no listener from SIGTERM until the new process listens: the
 * drain (up to the 3 s shutdown deadline when a reader is stuck, ~10 ms
 * otherwise) plus the restart (60–250 ms measured by bench/restart_time.ts,
 * plus the supervisor's delay). A browser that comes back inside that gap
 * gets a 502 from the proxy and native `EventSource` never retries it, so the
 * hint outlasts the deadline with a second to spare.
 */
export const DRAIN_RETRY_MS = 4000;

/** How far in the future a Last-Event-ID may point before it counts as unknown. */
const FUTURE_TOLERANCE_MS = 60_000;

const encoder = new TextEncoder();

/** An `event: reset` block whose data is `fields` as JSON. */
function resetFrame(fields: Record<string, unknown>): Uint8Array {
  return encoder.encode(formatEvent({
    event: EVENT_TYPE.Reset,
    data: eventData(fields),
  }));
}

/**
 * Topics, subscribers and the timers they share.
 *
 * @example Subscribe and publish in one instance
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
  /** Streams of `/.well-known/mercure` on this isolate (see countMercureStreams). */
  #mercureStreams = 0;
  readonly #maxQueuedBytes: number;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #topics = new Map<string, Set<Subscriber>>();
  /** Per topic, the subscribers that may receive its private events. */
  readonly #privateTopics = new Map<string, Set<Subscriber>>();
  /** Streams that end when their token expires: one timer for all of them. */
  readonly #expiries = new Expiries<Subscriber>((subscriber) =>
    subscriber.end(this.#farewell(
      EXPIRED_RETRY_MS,
      "token-expired",
      "Your access token expired; reconnecting",
    ))
  );
  readonly #subscribers = new Set<Subscriber>();
  readonly #timers: Array<ReturnType<typeof setInterval>> = [];
  readonly #unsubscribe: () => void;
  readonly #unsubscribeLoss: () => void;
  readonly #fanOut: FanOut;
  readonly #heartbeat = encoder.encode(formatComment("keep-alive"));
  readonly #retryFrame: Uint8Array;
  readonly #welcomes = new Map<string, Uint8Array>();
  #welcomeSecond = 0;
  #events = 0;
  #dropped = 0;
  #losses = 0;
  #published = 0;
  #delivered = 0;
  #replays = 0;
  #publishMs = 0;
  #publishCount = 0;
  #engineRefusals = 0;
  readonly #resets = new Map<string, number>();
  readonly #written = { bytes: 0 };
  #closed = false;
  /** POST /message answers by HTTP status (the router counts them). */
  readonly publishes: PublishCounts = new PublishCounts();

  /** Every subscriber's `onEnd`: one function for all, not one per stream. */
  readonly #onEnd = (subscriber: Subscriber, reason: EndReason): void =>
    this.#remove(subscriber, reason);

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
        ? () =>
          autoCoalesceMs(
            this.#bus.processClients?.() ?? this.#localStreams(),
          )
        : coalesceMs,
    }, this.#privateTopics);
    this.#unsubscribe = bus.subscribe((event) => this.#receive(event));
    this.#unsubscribeLoss = bus.onLoss?.((loss) => this.#lost(loss)) ??
      (() => {});
    bus.shareCounters?.(() => this.counters());
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
   * @throws {HubFullError} when this instance holds `maxClients` streams
   * @throws {HubClosedError} when the hub is draining or closed
   */
  subscribe(
    topics: readonly string[],
    lastEventId: string | null,
    options: SubscribeOptions = {},
  ): ReadableStream<Uint8Array> {
    if (this.#closed) throw new HubClosedError();
    if (this.#localStreams() >= this.#maxClients) {
      throw new HubFullError(this.#maxClients);
    }
    const asked = options.privateTopics ?? [];
    const subscriber = new Subscriber(topics, {
      maxQueuedBytes: this.#maxQueuedBytes,
      onEnd: this.#onEnd,
      // Without private topics the subscriber keeps its shared empty set.
      ...(asked.length === 0 ? {} : {
        privateTopics: new Set(asked.filter((topic) => topics.includes(topic))),
      }),
      written: this.#written,
    });
    this.#subscribers.add(subscriber);
    for (const topic of topics) addTo(this.#topics, topic, subscriber);
    for (const topic of subscriber.privateTopics) {
      addTo(this.#privateTopics, topic, subscriber);
    }
    this.#report();
    this.#expiries.set(
      subscriber,
      options.expiresAt ?? Number.POSITIVE_INFINITY,
    );
    // `retry:` is a field line, written together with the first block (the
    // welcome, or the reset before it) so that it travels inside it: a block
    // of only `retry:` is an empty message to some clients.
    if (lastEventId === null) {
      subscriber.write(this.#retryFrame);
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
          subscriber.end(this.#farewell(
            this.#retryMs,
            "replay-failed",
            "Cannot replay the missed events now; reconnecting",
          ));
        },
      );
    } else {
      this.#replay(subscriber, plan, lastEventId);
    }
    return subscriber.stream;
  }

  /** Publishes a validated request to every instance; resolves with its id. */
  async publish(request: PublishRequest): Promise<HubEvent> {
    const data = eventData({
      message: request.message,
      topic: request.topic,
      timestamp: new Date(this.#now()).toISOString(),
    });
    const start = performance.now();
    try {
      const event = await this.#bus.publish({
        topic: request.topic,
        event: request.event,
        data,
        ...(request.private === true ? { private: true } : {}),
      });
      this.#published++;
      return event;
    } catch (error) {
      if (error instanceof BusUnavailableError) this.#engineRefusals++;
      throw error;
    } finally {
      this.#publishMs += performance.now() - start;
      this.#publishCount++;
    }
  }

  /**
   * Why this hub cannot take publishes and streams right now ("draining",
   * or the bus's reason), or null when it can: what `GET /readyz` shows.
   */
  unready(): string | null {
    if (this.#closed) return "draining";
    return this.#bus.unready?.() ?? null;
  }

  /** The bus's delivery counts between instances, when it keeps them. */
  delivery(): DeliveryCounts | undefined {
    return this.#bus.delivery;
  }

  /**
   * This instance's counters, by name (see lib/metrics.ts for the names):
   * what the bus shares with the other instances every presence period.
   */
  counters(): Record<string, number> {
    const counters: Record<string, number> = {
      published: this.#published,
      received: this.#events,
      delivered: this.#delivered,
      bytes: this.#written.bytes,
      replays: this.#replays,
      dropped: this.#dropped,
      late: this.#bus.late ?? 0,
      publishMs: this.#publishMs,
      publishCount: this.#publishCount,
      engineRefusals: this.#engineRefusals,
      evictions: this.#history.counts?.evictions ?? 0,
    };
    for (const [reason, count] of this.#resets) {
      counters[`reset:${reason}`] = count;
    }
    for (const [status, count] of this.publishes.entries()) {
      counters[`status:${status}`] = count;
    }
    return counters;
  }

  /**
   * {@linkcode Hub.counters} summed over this instance and the latest the bus
   * heard from each other instance (so up to one presence period old).
   */
  totals(): Record<string, number> {
    const totals = this.counters();
    for (const peer of this.#bus.peerCounters?.() ?? []) {
      for (const [name, value] of Object.entries(peer)) {
        totals[name] = (totals[name] ?? 0) + value;
      }
    }
    return totals;
  }

  /** What this instance's history holds and dropped, when it can tell. */
  historyCounts(): HistoryCounts | undefined {
    return this.#history.counts;
  }

  /** The `/events` streams this isolate holds. */
  get ownStreams(): number {
    return this.#subscribers.size;
  }

  /**
   * Counts the `/.well-known/mercure` streams this isolate holds (the
   * MercureHub tells) with its own: in presence, stats and `maxClients`.
   */
  countMercureStreams(count: number): void {
    this.#mercureStreams = count;
    this.#report();
  }

  /** Every stream this isolate holds, `/events` and Mercure: as the bus counts them. */
  #localStreams(): number {
    return this.#subscribers.size + this.#mercureStreams;
  }

  #report(): void {
    this.#bus.reportClients(this.#localStreams());
  }

  /** Counts for `GET /stats`. */
  stats(): HubStats {
    const presence = this.#bus.presence();
    return {
      clients: presence.clients,
      instances: presence.instances,
      isolates: presence.instances,
      topics: this.#topics.size,
      localClients: this.#localStreams(),
      mercureClients: this.#mercureStreams,
      events: this.#events,
      dropped: this.#dropped,
      instance: this.#bus.instance ?? null,
      isolate: this.#bus.instance ?? null,
      late: this.#bus.late ?? 0,
      losses: this.#losses,
    };
  }

  /**
   * Ends every stream with a last `event: system` (`reason: "drain"`) whose
   * block carries `retry:` of `retryMs` to 1.5 × `retryMs` (spread so clients
   * do not all return in the same millisecond), and refuses new streams.
   * Browsers then reconnect, to this process restarted or to another, and
   * replay by id. The hint rides in a real event because a lone `retry:`
   * block is an empty message to some clients.
   */
  drain(retryMs: number = DRAIN_RETRY_MS): void {
    this.#closed = true;
    this.#fanOut.flush();
    for (const subscriber of [...this.#subscribers]) {
      const retry = retryMs + Math.floor(Math.random() * retryMs / 2);
      subscriber.end(this.#farewell(
        retry,
        "drain",
        `This server is shutting down; reconnecting in ${
          (retry / 1000).toFixed(1)
        } s`,
      ));
    }
  }

  /**
   * The last block of a stream the hub ends: an `event: system` that carries
   * `retry:` (in the field and in its data, for clients that only see data).
   */
  #farewell(retry: number, reason: string, message: string): Uint8Array {
    return encoder.encode(formatEvent({
      retry,
      event: EVENT_TYPE.System,
      data: eventData({
        message,
        reason,
        retry,
        instance: this.#bus.instance ?? null,
        isolate: this.#bus.instance ?? null,
        timestamp: new Date(this.#now()).toISOString(),
      }),
    }));
  }

  /** Drains, stops the timers and leaves the bus. */
  close(): Promise<void> {
    this.drain();
    this.#fanOut.close();
    this.#expiries.close();
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers.length = 0;
    this.#unsubscribe();
    this.#unsubscribeLoss();
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

  #replay(
    subscriber: Subscriber,
    unfiltered: ReplayPlan,
    lastEventId: string,
  ): void {
    if (subscriber.ended) return;
    subscriber.write(this.#retryFrame);
    // Replay honours the same grants as live delivery.
    const plan: ReplayPlan = {
      reset: unfiltered.reset,
      events: unfiltered.events.filter((event) =>
        event.private !== true || subscriber.privateTopics.has(event.topic)
      ),
    };
    this.#replays++;
    this.#delivered += plan.events.length;
    if (plan.reset !== null) {
      this.#countReset(plan.reset.reason);
      subscriber.write(resetFrame({
        reason: plan.reset.reason,
        lastEventId,
        topics: plan.reset.topics,
        message: plan.reset.reason === "unknown-id"
          ? "The last event id is not known here: refetch your state"
          : "Some events after the last event id are no longer retained: refetch your state",
      }));
    }
    subscriber.write(this.#welcome(subscriber.topics, plan.events.length));
    const sent: EventId | null = plan.reset?.reason === "unknown-id"
      ? null
      : parseId(lastEventId);
    void this.#writeReplay(subscriber, plan.events, sent).catch((error) => {
      this.#logger.log("warn", "Cannot write the replay; ending the stream", {
        error: String(error),
      });
      subscriber.end();
    });
  }

  /**
   * Writes replayed events as fast as the reader takes them (a backlog may be
   * larger than the stream's queue), then releases the held live events.
   */
  async #writeReplay(
    subscriber: Subscriber,
    events: readonly HubEvent[],
    after: EventId | null,
  ): Promise<void> {
    let sent = after;
    for (const event of events) {
      const frame = this.#frame(event);
      if (
        !subscriber.fits(frame.byteLength) &&
        !await subscriber.room(frame.byteLength)
      ) return;
      subscriber.write(frame);
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
        instance: this.#bus.instance ?? null,
        isolate: this.#bus.instance ?? null,
        timestamp: new Date(this.#now()).toISOString(),
      }),
    }));
  }

  #frame(event: HubEvent): Uint8Array {
    // A Mercure update: its type and raw data, with the hub's id.
    if (event.event === MERCURE_EVENT) {
      return encoder.encode(heraldFrame(event));
    }
    return encoder.encode(
      formatEvent({ event: event.event, id: event.id, data: event.data }),
    );
  }

  #receive(event: HubEvent): void {
    this.#events++;
    this.#history.record(event);
    const isPrivate = event.private === true;
    const followers = (isPrivate ? this.#privateTopics : this.#topics).get(
      event.topic,
    );
    if (followers === undefined) return;
    // One addition per event, not per stream: the streams it is queued to.
    this.#delivered += followers.size;
    const id = parseId(event.id);
    if (id === null) return;
    // Encoded once; every subscriber queues the same bytes.
    this.#fanOut.send(event.topic, id, this.#frame(event), isPrivate);
  }

  /**
   * The bus lost events for good: every stream that follows one of the
   * topics (all streams, when the bus cannot tell) gets an in-band reset
   * before any later event, so no client goes on as if nothing was missed.
   */
  #lost(loss: BusLoss): void {
    this.#losses++;
    this.#countReset(loss.reason);
    this.#logger.log(
      "warn",
      "Events were lost for good; resetting the streams that may miss them",
      {
        reason: loss.reason,
        topics: loss.topics ?? "all",
      },
    );
    // What was released before the loss goes out first, then the reset.
    this.#fanOut.flush();
    const asked = loss.topics === null ? null : new Set(loss.topics);
    for (const subscriber of this.#subscribers) {
      const topics = asked === null
        ? subscriber.topics
        : subscriber.topics.filter((topic) => asked.has(topic));
      if (topics.length === 0) continue;
      subscriber.write(resetFrame({
        reason: loss.reason,
        topics,
        message:
          "Some events could not be delivered to this stream: refetch your state",
      }));
    }
  }

  #countReset(reason: string): void {
    this.#resets.set(reason, (this.#resets.get(reason) ?? 0) + 1);
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
    this.#expiries.delete(subscriber);
    if (reason === "overflow") {
      this.#dropped++;
      this.#logger.log("warn", "Dropped subscriber: queue full", {
        limit: this.#maxQueuedBytes,
        topics: subscriber.topics,
      });
    }
    this.#report();
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
