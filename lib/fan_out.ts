/**
 * @module Fan-out of encoded events to subscribers, with write coalescing.
 * Each chunk enqueued to a Deno response stream costs a few microseconds
 * however small it is (BENCHMARKS.md), so under load the events of a topic
 * are joined into one chunk, enqueued once to every stream that follows only
 * that topic. A token bucket decides: each send to the streams (a flush)
 * takes a token, tokens come back one per `coalesceMs`, and up to
 * {@linkcode BURST} are saved up. While tokens are left an event goes out at
 * once, so a light or bursty-but-slow load pays no latency; past that, events
 * wait for the next token and go out together, so flushes never exceed one
 * per window however fast events come. Web-only.
 */
import type { EventId } from "./event_id.ts";
import type { Subscriber } from "./subscriber.ts";

/** Flushes that may be saved up to send a short burst at once. */
export const BURST = 3;

/** Options for {@linkcode FanOut}. */
export interface FanOutOptions {
  /**
   * The time one flush token takes to come back, in ms; 0 sends every event
   * at once. A function is asked at each send, so the window can follow the
   * number of streams.
   *
   * @default {5}
   */
  coalesceMs?: number | (() => number);
  /** A monotonic clock in ms. @default {performance.now} */
  now?: () => number;
}

interface Pending {
  readonly topic: string;
  readonly id: EventId;
  readonly bytes: Uint8Array;
  readonly private: boolean;
}

const NO_SUBSCRIBERS: ReadonlyMap<string, ReadonlySet<Subscriber>> = new Map();

/**
 * Sends each event's bytes to the subscribers of its topic, coalescing bursts.
 *
 * Order is kept: a stream that follows one topic gets that topic's events in
 * arrival order (joined); a stream that follows several, or that is finishing
 * a replay, gets every event one by one in global arrival order.
 */
export class FanOut {
  readonly #topics: ReadonlyMap<string, ReadonlySet<Subscriber>>;
  readonly #private: ReadonlyMap<string, ReadonlySet<Subscriber>>;
  readonly #coalesceMs: () => number;
  readonly #now: () => number;
  #pending: Pending[] = [];
  #tokens = BURST;
  #refilledAt = Number.NEGATIVE_INFINITY;
  #timer: ReturnType<typeof setTimeout> | null = null;

  /**
   * Fans out to the subscribers in `topics` (the hub's live index); private
   * events go only to those in `privateTopics` (a subset, per topic).
   */
  constructor(
    topics: ReadonlyMap<string, ReadonlySet<Subscriber>>,
    options: FanOutOptions = {},
    privateTopics: ReadonlyMap<string, ReadonlySet<Subscriber>> =
      NO_SUBSCRIBERS,
  ) {
    this.#topics = topics;
    this.#private = privateTopics;
    const coalesceMs = options.coalesceMs ?? 5;
    this.#coalesceMs = typeof coalesceMs === "number"
      ? () => coalesceMs
      : coalesceMs;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Sends (now or with the next batch) one encoded event of `topic`; a
   * private one reaches only the topic's permitted subscribers.
   */
  send(topic: string, id: EventId, bytes: Uint8Array, isPrivate = false): void {
    const windowMs = this.#coalesceMs();
    const now = this.#now();
    this.#refill(now, windowMs);
    if (this.#pending.length === 0 && this.#tokens >= 1) {
      this.#tokens -= 1;
      const subscribers = (isPrivate ? this.#private : this.#topics).get(topic);
      if (subscribers !== undefined) {
        for (const subscriber of subscribers) subscriber.deliver(id, bytes);
      }
      return;
    }
    this.#pending.push({ topic, id, bytes, private: isPrivate });
    this.#timer ??= setTimeout(
      () => this.flush(),
      Math.max(0, (1 - this.#tokens) * windowMs),
    );
  }

  #refill(now: number, windowMs: number): void {
    this.#tokens = windowMs <= 0 ? BURST : Math.min(
      BURST,
      this.#tokens + (now - this.#refilledAt) / windowMs,
    );
    this.#refilledAt = now;
  }

  /** Sends every pending event now (before a drain, for instance). */
  flush(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const pending = this.#pending;
    if (pending.length === 0) return;
    this.#pending = [];
    this.#refill(this.#now(), this.#coalesceMs());
    this.#tokens -= 1;
    const byTopic = new Map<string, Pending[]>();
    for (const entry of pending) {
      const group = byTopic.get(entry.topic);
      if (group === undefined) byTopic.set(entry.topic, [entry]);
      else group.push(entry);
    }
    const oneByOne = new Set<Subscriber>();
    for (const [topic, group] of byTopic) {
      const subscribers = this.#topics.get(topic);
      if (subscribers === undefined) continue;
      const joined = group.length === 1 ? group[0]!.bytes : join(group);
      // With private events, two chunks at most: all of them, for the
      // permitted, and the public ones, for the rest. Never one per stream.
      const permitted = this.#private.get(topic);
      const mixed = group.some((entry) => entry.private);
      const publicGroup = mixed ? group.filter((entry) => !entry.private) : [];
      const joinedPublic = !mixed
        ? joined
        : publicGroup.length === 0
        ? null
        : join(publicGroup);
      for (const subscriber of subscribers) {
        if (!subscriber.takesBatches) oneByOne.add(subscriber);
        else if (!mixed || permitted?.has(subscriber)) subscriber.write(joined);
        else if (joinedPublic !== null) subscriber.write(joinedPublic);
      }
    }
    if (oneByOne.size === 0) return;
    for (const entry of pending) {
      for (const subscriber of oneByOne) {
        if (
          subscriber.topics.includes(entry.topic) &&
          (!entry.private || subscriber.privateTopics.has(entry.topic))
        ) {
          subscriber.deliver(entry.id, entry.bytes);
        }
      }
    }
  }

  /** Drops pending events and the timer (the hub is closing). */
  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#pending = [];
  }
}

function join(group: readonly Pending[]): Uint8Array {
  let size = 0;
  for (const entry of group) size += entry.bytes.byteLength;
  const joined = new Uint8Array(size);
  let offset = 0;
  for (const entry of group) {
    joined.set(entry.bytes, offset);
    offset += entry.bytes.byteLength;
  }
  return joined;
}
