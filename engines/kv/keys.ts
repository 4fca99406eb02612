/**
 * @module Where the kv engine keeps things in Deno KV. Every key starts with
 * one prefix (default `["herald"]`), so hubs or tests can share a database.
 *
 * - `[p, "log", stamp]`: every event, keyed by its commit's versionstamp
 *   (which is its id); the followers of every instance read it in order.
 * - `[p, "topic", topic, stamp]`: the same event under its topic, for replay.
 * - `[p, "topics", topic]`: the topic's newest stamp (the trimmer's list).
 * - `[p, "floor", topic]` / `[p, "log-floor"]`: the newest stamp trimmed away;
 *   a replay (or a follower) from before it may miss events.
 * - `[p, "claim", key]`: a unique key (a Mercure publisher's id) held by the
 *   log entry that claimed it; deleted when that entry is trimmed.
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
}

/** The last part of a log or topic key: the versionstamp, as 20 hex digits. */
export function stampOf(key: Deno.KvKey): string {
  return String(key[key.length - 1]);
}
