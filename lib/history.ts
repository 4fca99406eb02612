/**
 * @module Event history for replay after a reconnect: the last N events of
 * each topic, and the answer to "what came after this id?". Web-only.
 */
import type { HubEvent } from "./bus.ts";
import {
  compareIds,
  type EventId,
  maxId,
  parseId,
  ZERO_ID,
} from "./event_id.ts";

/** Why a replay cannot promise that nothing was missed. */
export type ResetReason = "unknown-id" | "history-exceeded";

/** What a reconnecting stream gets: the events to replay, and any loss to report. */
export interface ReplayPlan {
  /** Retained events after the given id, on the asked topics, in id order. */
  readonly events: readonly HubEvent[];
  /** Set when events may be missing between the given id and `events`. */
  readonly reset: null | {
    readonly reason: ResetReason;
    /** The asked topics whose events after the id are not all retained. */
    readonly topics: readonly string[];
  };
}

/**
 * Where a hub keeps events for replay. The in-memory {@linkcode MemoryHistory}
 * is the default; an engine with its own storage (Redis Streams) can answer
 * `replay()` itself, asynchronously.
 */
export interface EventHistory {
  /** Keeps an event the bus delivered (called in id order). */
  record(event: HubEvent): void;
  /** The retained events after `lastId` on `topics`, and whether some are lost. */
  replay(
    topics: readonly string[],
    lastId: string,
  ): ReplayPlan | Promise<ReplayPlan>;
}

/** Approximate bytes one topic's ring costs before it holds any event. */
const RING_BYTES = 256;

interface Entry {
  readonly id: EventId;
  readonly event: HubEvent;
  /** Approximate bytes the entry holds (UTF-16 strings plus bookkeeping). */
  readonly bytes: number;
}

/** A bounded ring of one topic's latest events, in id order. */
class TopicRing {
  readonly #entries: Entry[] = [];
  #start = 0;
  /** Every event at or before this id that is gone from the ring. */
  evicted: EventId = ZERO_ID;
  /** Bytes held by the entries still in the ring. */
  bytes = 0;

  /** Adds an entry, dropping the oldest past `capacity`. */
  push(entry: Entry, capacity: number): void {
    if (capacity === 0) {
      this.evicted = maxId(this.evicted, entry.id);
      return;
    }
    const last = this.#entries[this.#entries.length - 1];
    if (
      this.size > 0 && last !== undefined && compareIds(entry.id, last.id) < 0
    ) {
      // A late event (see total_order.ts): keep the ring sorted.
      this.#entries.splice(this.#firstAfter(entry.id), 0, entry);
    } else {
      this.#entries.push(entry);
    }
    this.bytes += entry.bytes;
    if (this.size > capacity) this.shift();
  }

  /** Drops the oldest entry. */
  shift(): void {
    const gone = this.#entries[this.#start];
    if (gone === undefined) return;
    this.evicted = maxId(this.evicted, gone.id);
    this.bytes -= gone.bytes;
    this.#start++;
    // Compact now and then so the array does not grow without bound.
    if (this.#start >= 1024 && this.#start * 2 >= this.#entries.length) {
      this.#entries.splice(0, this.#start);
      this.#start = 0;
    }
  }

  /** Index of the first entry whose id sorts after `id`. */
  #firstAfter(id: EventId): number {
    let lo = this.#start;
    let hi = this.#entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const entry = this.#entries[mid];
      if (entry !== undefined && compareIds(entry.id, id) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The entries after `id`, oldest first. */
  after(id: EventId): Entry[] {
    return this.#entries.slice(this.#firstAfter(id));
  }

  /** The newest id ever pushed, or ZERO_ID. */
  get newest(): EventId {
    return this.#entries[this.#entries.length - 1]?.id ?? this.evicted;
  }

  /** Entries held. */
  get size(): number {
    return this.#entries.length - this.#start;
  }
}

/** Options for {@linkcode MemoryHistory}. */
export interface MemoryHistoryOptions {
  /**
   * Events kept per topic; 0 keeps none (every reconnect after a publish then
   * gets a reset).
   *
   * @default {1000}
   */
  size?: number;
  /**
   * Bytes the whole history may hold, across topics. Past it, the topic
   * published to least recently is forgotten first, so a flood of one-off
   * topics cannot grow memory without bound.
   *
   * @default {67108864}
   */
  maxBytes?: number;
  /**
   * The id after which this isolate has seen every event (the bus's horizon).
   * A replay from before it reports a reset.
   *
   * @default {() => "0-0"}
   */
  horizon?: () => string;
}

/**
 * Keeps the last `size` events of each topic in memory, within `maxBytes`.
 *
 * @example Replay after an id
 * ```ts
 * import { MemoryHistory } from "./history.ts";
 * const history = new MemoryHistory({ size: 2 });
 * for (const id of ["1-0", "2-0", "3-0"]) {
 *   history.record({ id, topic: "t", event: "chat", data: id });
 * }
 * const plan = history.replay(["t"], "2-0");
 * if (plan.events.length !== 1 || plan.reset !== null) throw new Error();
 * ```
 */
export class MemoryHistory implements EventHistory {
  /** Rings in least-recently-published order (Map keeps insertion order). */
  readonly #rings = new Map<string, TopicRing>();
  readonly #size: number;
  readonly #maxBytes: number;
  readonly #horizon: () => string;
  #bytes = 0;
  /** The newest id of any topic forgotten whole: replays before it may miss events. */
  #forgotten: EventId = ZERO_ID;

  /** Makes an empty history. */
  constructor(options: MemoryHistoryOptions = {}) {
    this.#size = options.size ?? 1000;
    this.#maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.#horizon = options.horizon ?? (() => "0-0");
  }

  /** Keeps `event`, dropping the oldest of its topic when full. */
  record(event: HubEvent): void {
    const id = parseId(event.id);
    if (id === null) return;
    let ring = this.#rings.get(event.topic);
    if (ring === undefined) {
      ring = new TopicRing();
      this.#bytes += RING_BYTES;
    } else {
      this.#rings.delete(event.topic);
    }
    this.#rings.set(event.topic, ring);
    const before = ring.bytes;
    const bytes = 2 *
        (event.data.length + event.id.length + event.topic.length +
          event.event.length) + 96;
    ring.push({ id, event, bytes }, this.#size);
    this.#bytes += ring.bytes - before;
    this.#trim(ring);
  }

  #trim(current: TopicRing): void {
    while (this.#bytes > this.#maxBytes) {
      const [topic, oldest] = this.#rings.entries().next().value ?? [];
      if (topic === undefined || oldest === undefined) return;
      if (oldest === current) {
        const before = current.bytes;
        current.shift();
        this.#bytes -= before - current.bytes;
        if (current.size === 0) return;
      } else {
        this.#forgotten = maxId(this.#forgotten, oldest.newest);
        this.#bytes -= oldest.bytes + RING_BYTES;
        this.#rings.delete(topic);
      }
    }
  }

  /**
   * The retained events after `lastId`, merged across `topics` in id order.
   * An id that does not parse gets a reset and no events.
   */
  replay(topics: readonly string[], lastId: string): ReplayPlan {
    const from = parseId(lastId);
    if (from === null) {
      return {
        events: [],
        reset: { reason: "unknown-id", topics: [...topics] },
      };
    }
    const base = maxId(parseId(this.#horizon()) ?? ZERO_ID, this.#forgotten);
    const entries: Entry[] = [];
    const lost: string[] = [];
    for (const topic of topics) {
      const ring = this.#rings.get(topic);
      const floor = maxId(base, ring?.evicted ?? ZERO_ID);
      if (compareIds(from, floor) < 0) lost.push(topic);
      if (ring !== undefined) entries.push(...ring.after(from));
    }
    if (topics.length > 1) entries.sort((a, b) => compareIds(a.id, b.id));
    return {
      events: entries.map((entry) => entry.event),
      reset: lost.length > 0
        ? { reason: "history-exceeded", topics: lost }
        : null,
    };
  }

  /** Topics with retained events. */
  get topicCount(): number {
    return this.#rings.size;
  }

  /** Approximate bytes held. */
  get bytes(): number {
    return this.#bytes;
  }
}
