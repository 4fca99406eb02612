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
  /** What it holds and has dropped, for `GET /metrics`; absent when it cannot tell. */
  readonly counts?: HistoryCounts;
}

/** What an in-memory history holds and has dropped. */
export interface HistoryCounts {
  /** Approximate bytes held. */
  readonly bytes: number;
  /** Topics with retained events. */
  readonly topics: number;
  /** Events dropped to stay within the size per topic or the byte budget. */
  readonly evictions: number;
}

/*
 * What the byte budget counts, so that it bounds the memory the history
 * really holds (V8 without pointer compression: 8-byte fields):
 * - every string at 2 bytes a character plus a 16-byte header, an upper
 *   bound whichever representation (Latin-1 or UTF-16) V8 picked;
 * - per entry, the objects around the strings: the kept event (4 fields),
 *   the entry (3), the parsed id (3, one a boxed double) and its ring slot;
 * - per topic, the ring object, its slot array's header, the Map entry, plus
 *   8 bytes for each slot the ring has allocated, filled or not.
 * Evicted entries are released at once (their slot is cleared), so nothing
 * the budget no longer counts stays reachable.
 */

/** Bytes one topic costs before it holds any event (ring, Map entry, array header). */
const RING_BYTES = 256;
/** Bytes of one ring slot (a pointer). */
const SLOT_BYTES = 8;
/** Bytes of the objects around an entry's strings (see above), rounded up. */
const ENTRY_BYTES = 256;
/** Slots a ring allocates first; it doubles up to the history's size. */
const FIRST_SLOTS = 4;

/** Upper bound of the bytes V8 spends on `text`. */
function stringBytes(text: string): number {
  return 16 + 2 * text.length;
}

interface Entry {
  readonly id: EventId;
  readonly event: HubEvent;
  /** Bytes the entry holds: its strings plus {@linkcode ENTRY_BYTES}. */
  readonly bytes: number;
}

/**
 * A bounded ring buffer of one topic's latest events, in id order. Its slot
 * array grows by doubling up to the capacity and shrinks when mostly empty;
 * an evicted entry's slot is cleared at once.
 */
class TopicRing {
  #slots: Array<Entry | undefined> = [];
  /** Slot of the oldest entry. */
  #head = 0;
  #size = 0;
  /** Every event at or before this id that is gone from the ring. */
  evicted: EventId = ZERO_ID;
  /** Bytes held by the entries in the ring, plus its slots. */
  bytes = 0;

  /** Adds an entry, dropping the oldest past `capacity`. */
  push(entry: Entry, capacity: number): void {
    const late = this.#size > 0 &&
      compareIds(entry.id, this.#at(this.#size - 1).id) < 0;
    if (
      capacity === 0 ||
      (late && this.#size >= capacity &&
        compareIds(entry.id, this.#at(0).id) < 0)
    ) {
      // Nothing kept, or a late event older than a full ring's oldest.
      this.evicted = maxId(this.evicted, entry.id);
      return;
    }
    if (this.#size >= capacity) this.shift();
    if (this.#size === this.#slots.length) {
      this.#resize(Math.min(capacity, Math.max(FIRST_SLOTS, this.#size * 2)));
    }
    const length = this.#slots.length;
    let at = this.#size;
    if (late) {
      // A late event (see total_order.ts): move the later ones up a slot.
      const after = this.#firstAfter(entry.id);
      for (; at > after; at--) {
        this.#slots[(this.#head + at) % length] =
          this.#slots[(this.#head + at - 1) % length];
      }
    }
    this.#slots[(this.#head + at) % length] = entry;
    this.#size++;
    this.bytes += entry.bytes;
  }

  /** Drops the oldest entry and releases it. */
  shift(): void {
    if (this.#size === 0) return;
    const gone = this.#at(0);
    this.#slots[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#slots.length;
    this.#size--;
    this.evicted = maxId(this.evicted, gone.id);
    this.bytes -= gone.bytes;
    // A ring trimmed by the byte budget gives its slots back too.
    if (
      this.#slots.length > FIRST_SLOTS && this.#size * 4 <= this.#slots.length
    ) {
      this.#resize(Math.max(FIRST_SLOTS, this.#slots.length >> 1));
    }
  }

  /** Copies the entries, oldest first, into a slot array of `length`. */
  #resize(length: number): void {
    const slots = new Array<Entry | undefined>(length);
    for (let i = 0; i < this.#size; i++) slots[i] = this.#at(i);
    this.bytes += (length - this.#slots.length) * SLOT_BYTES;
    this.#slots = slots;
    this.#head = 0;
  }

  /** The entry `i` places after the oldest (`i` below the size). */
  #at(i: number): Entry {
    return this.#slots[(this.#head + i) % this.#slots.length]!;
  }

  /** Place (from the oldest) of the first entry whose id sorts after `id`. */
  #firstAfter(id: EventId): number {
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareIds(this.#at(mid).id, id) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The entries after `id`, oldest first. */
  after(id: EventId): Entry[] {
    const out: Entry[] = [];
    for (let i = this.#firstAfter(id); i < this.#size; i++) {
      out.push(this.#at(i));
    }
    return out;
  }

  /** The newest id ever pushed, or ZERO_ID. */
  get newest(): EventId {
    return this.#size > 0 ? this.#at(this.#size - 1).id : this.evicted;
  }

  /** Entries held. */
  get size(): number {
    return this.#size;
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
  #evictions = 0;
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
    // A copy of the event's own fields, so that nothing else a bus attached
    // to it (and the budget does not count) stays reachable from here.
    const kept: HubEvent = {
      id: event.id,
      topic: event.topic,
      event: event.event,
      data: event.data,
      ...(event.private === true ? { private: true } : {}),
    };
    const bytes = ENTRY_BYTES + stringBytes(event.data) +
      stringBytes(event.id) + stringBytes(event.topic) +
      stringBytes(event.event);
    const held = ring.size;
    ring.push({ id, event: kept, bytes }, this.#size);
    // Full: the push dropped the oldest (or the late event itself).
    if (ring.size === held) this.#evictions++;
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
        this.#evictions++;
        this.#bytes -= before - current.bytes;
        if (current.size === 0) return;
      } else {
        this.#forgotten = maxId(this.#forgotten, oldest.newest);
        this.#bytes -= oldest.bytes + RING_BYTES;
        this.#evictions += oldest.size;
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

  /** Bytes, topics and evictions so far, for `GET /metrics`. */
  get counts(): HistoryCounts {
    return {
      bytes: this.#bytes,
      topics: this.#rings.size,
      evictions: this.#evictions,
    };
  }
}
