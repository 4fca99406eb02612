/**
 * @module Where the kv engine keeps things in Deno KV. Every key starts with
 * one prefix (default `["herald"]`), so hubs or tests can share a database.
 *
 * - `[p, "log", stamp]`: every event, keyed by its commit's versionstamp
 *   (which is its id); the followers of every instance read it in order.
 * - `[p, "topic", topic, stamp]`: the same event under its topic, for replay.
 * - `[p, "topics", topic]`: set by every publish to the topic, so its
 *   versionstamp tells the trimmer which topic was published to least
 *   recently; removed with the topic's last event.
 * - `[p, "count", topic]`, `[p, "bytes", topic]`, `[p, "bytes-all"]`,
 *   `[p, "log-count"]`, `[p, "log-bytes"]`: what is held (events of a topic,
 *   their bytes, bytes of all topics, events in the log and their bytes), as
 *   `Deno.KvU64` sums: a publish adds, a trim subtracts in the atomic write
 *   that deletes, so the trimmer reads only what it removes.
 * - `[p, "floor", topic]` / `[p, "log-floor"]`: the newest stamp trimmed away;
 *   a replay (or a follower) from before it may miss events.
 * - `[p, "claim", key]`: a unique key (a Mercure publisher's id) held by the
 *   log entry that claimed it; deleted when that entry is trimmed.
 * - `[p, "forgotten"]`: the newest stamp of any topic removed whole; a replay
 *   from before it may miss events on any topic (as in the memory history).
 * - `[p, "bell"]`: rewritten by every publish, watched as a doorbell.
 * - `[p, "presence", instance]`: an instance's client count, with an expiry.
 */

/** The keys of one hub in one database. */
export class KvKeys {
  readonly #prefix: readonly string[];

  /** Keys under `prefix`. */
  constructor(prefix: readonly string[] = ["herald"]) {
    this.#prefix = prefix;
  }

  /** The global log's prefix. */
  get log(): Deno.KvKey {
    return [...this.#prefix, "log"];
  }

  /** One topic's events' prefix. */
  topic(topic: string): Deno.KvKey {
    return [...this.#prefix, "topic", topic];
  }

  /** The list of topics' prefix. */
  get topics(): Deno.KvKey {
    return [...this.#prefix, "topics"];
  }

  /** A topic's trim floor. */
  floor(topic: string): Deno.KvKey {
    return [...this.#prefix, "floor", topic];
  }

  /** Events held for a topic. */
  count(topic: string): Deno.KvKey {
    return [...this.#prefix, "count", topic];
  }

  /** Bytes held for a topic. */
  bytes(topic: string): Deno.KvKey {
    return [...this.#prefix, "bytes", topic];
  }

  /** Bytes held for all topics (what HISTORY_MAX_BYTES bounds). */
  get allBytes(): Deno.KvKey {
    return [...this.#prefix, "bytes-all"];
  }

  /** Events held in the global log. */
  get logCount(): Deno.KvKey {
    return [...this.#prefix, "log-count"];
  }

  /** Bytes held in the global log. */
  get logBytes(): Deno.KvKey {
    return [...this.#prefix, "log-bytes"];
  }

  /** The newest stamp of any topic removed whole. */
  get forgotten(): Deno.KvKey {
    return [...this.#prefix, "forgotten"];
  }

  /** The global log's trim floor. */
  get logFloor(): Deno.KvKey {
    return [...this.#prefix, "log-floor"];
  }

  /** The claim on a unique key. */
  claim(key: string): Deno.KvKey {
    return [...this.#prefix, "claim", key];
  }

  /** The doorbell. */
  get bell(): Deno.KvKey {
    return [...this.#prefix, "bell"];
  }

  /** The presence entries' prefix. */
  get presence(): Deno.KvKey {
    return [...this.#prefix, "presence"];
  }
}

/** What the kv engine stores for one event: the draft, untouched, and when. */
export interface KvRecord {
  /** Every field the publisher gave (topic, event, data, and any others). */
  readonly event: Record<string, unknown> & {
    readonly topic: string;
    readonly event: string;
    readonly data: string;
  };
  /** Wall-clock ms of the publish, for retention by age. */
  readonly at: number;
  /** The unique key this event claimed, when it claimed one. */
  readonly unique?: string;
  /** What it counts against the byte budget ({@linkcode recordBytes}). */
  readonly bytes?: number;
}

/**
 * An upper bound of the bytes V8's serializer spends on a record's event:
 * two bytes a character, plus room for the field names and tags.
 */
export function recordBytes(event: KvRecord["event"]): number {
  let bytes = 64;
  for (const [name, value] of Object.entries(event)) {
    bytes += 2 * name.length + 16 +
      (typeof value === "string"
        ? 2 * value.length
        : 2 * JSON.stringify(value ?? null).length);
  }
  return bytes;
}

/** `n` as an operand of `sum` (which adds to a `Deno.KvU64`). */
export function plus(n: number): bigint {
  return BigInt(n);
}

/**
 * `n` as an operand of `sum` that subtracts: `sum` wraps modulo 2^64, so
 * adding 2^64 - n takes n away. The caller never takes away more than it
 * read, and publishes only add, so a count never wraps below zero.
 */
export function minus(n: number): bigint {
  return ((1n << 64n) - BigInt(n)) % (1n << 64n);
}

/** A `Deno.KvU64` entry's value as a number (0 when absent). */
export function countOf(entry: Deno.KvEntryMaybe<unknown>): number {
  return entry.value instanceof Deno.KvU64 ? Number(entry.value.value) : 0;
}

/** The last part of a log or topic key: the versionstamp, as 20 hex digits. */
export function stampOf(key: Deno.KvKey): string {
  return String(key[key.length - 1]);
}
