/**
 * @module Retention for the kv engine: every instance trims, now and then,
 * each topic to its newest `size` events (and, with `maxAgeMs`, drops older
 * ones), and the global log to its newest `logSize`. Each trim records the
 * newest stamp it removed (the floor) in the same atomic write, guarded by a
 * check on the floor, so two instances trimming at once cannot move it back.
 */
import type { Logger } from "../../lib/log.ts";
import { type KvKeys, type KvRecord, stampOf } from "./keys.ts";

/**
 * Entries deleted per atomic write: each may take a claim with it, plus the
 * floor (Deno KV allows 1,000 mutations in one).
 */
const BATCH = 400;

/** Options for {@linkcode KvTrimmer}. */
export interface KvTrimmerOptions {
  /** Events kept per topic; 0 keeps none. */
  size: number;
  /** Events kept in the global log. */
  logSize: number;
  /** Events older than this many ms go too; 0 keeps them by count alone. */
  maxAgeMs: number;
  /** How often to trim. */
  intervalMs: number;
  /** Where failures are written. */
  logger: Logger;
  /** The wall clock in ms. */
  now: () => number;
}

/** Trims topics and the log on a timer. */
export class KvTrimmer {
  readonly #kv: Deno.Kv;
  readonly #keys: KvKeys;
  readonly #options: KvTrimmerOptions;
  readonly #timer: ReturnType<typeof setInterval>;
  #running: Promise<void> | null = null;
  #closed = false;
  /** Each topic's versionstamp (it changes with every publish) when last trimmed. */
  readonly #seen = new Map<string, string>();
  #seenLog = "";

  /** Starts trimming every `intervalMs`. */
  constructor(kv: Deno.Kv, keys: KvKeys, options: KvTrimmerOptions) {
    this.#kv = kv;
    this.#keys = keys;
    this.#options = options;
    this.#timer = setInterval(() => void this.trim(), options.intervalMs);
  }

  /** One round over every topic and the log (one round at a time). */
  trim(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#running ??= this.#round().finally(() => this.#running = null);
    return this.#running;
  }

  async #round(): Promise<void> {
    const { size, logSize, maxAgeMs, now } = this.#options;
    const cutoff = maxAgeMs > 0 ? now() - maxAgeMs : -Infinity;
    try {
      // Topics published to since the last round; all of them when trimming
      // by age too (time alone makes events old).
      const topics: [string, string][] = [];
      let newest = "";
      for await (const entry of this.#kv.list({ prefix: this.#keys.topics })) {
        const topic = String(entry.key[entry.key.length - 1]);
        if (entry.versionstamp > newest) newest = entry.versionstamp;
        if (maxAgeMs === 0 && this.#seen.get(topic) === entry.versionstamp) {
          continue;
        }
        topics.push([topic, entry.versionstamp]);
      }
      for (const [topic, stamp] of topics) {
        if (this.#closed) return;
        const done = await this.#trim(
          this.#keys.topic(topic),
          this.#keys.floor(topic),
          size,
          cutoff,
        );
        if (done) this.#seen.set(topic, stamp);
      }
      if (!this.#closed && (maxAgeMs > 0 || newest !== this.#seenLog)) {
        const done = await this.#trim(
          this.#keys.log,
          this.#keys.logFloor,
          logSize,
          cutoff,
          true,
        );
        if (done) this.#seenLog = newest;
      }
    } catch (error) {
      if (this.#closed) return;
      this.#options.logger.log("warn", "Cannot trim the Deno KV history", {
        error: (error as Error).message,
      });
    }
  }

  /**
   * Deletes (one batch of) what is past `keep` or older than `cutoff`, and,
   * when it `releases` (the log), the claims of what it deletes; true when
   * nothing is left to delete.
   */
  async #trim(
    prefix: Deno.KvKey,
    floorKey: Deno.KvKey,
    keep: number,
    cutoff: number,
    releases = false,
  ): Promise<boolean> {
    const gone: Deno.KvKey[] = [];
    const claims: Deno.KvKey[] = [];
    let kept = 0;
    for await (
      const entry of this.#kv.list<KvRecord>({ prefix }, { reverse: true })
    ) {
      if (kept < keep && entry.value.at >= cutoff) {
        kept++;
        continue;
      }
      gone.push(entry.key);
      // A claim belongs to the log entry (topic entries are copies).
      if (releases && entry.value.unique !== undefined) {
        claims.push(this.#keys.claim(entry.value.unique));
      }
      if (gone.length >= BATCH) break;
    }
    if (gone.length === 0) return true;
    const newest = stampOf(gone[0]!);
    const floor = await this.#kv.get<string>(floorKey);
    const atomic = this.#kv.atomic().check(floor);
    for (const key of [...gone, ...claims]) atomic.delete(key);
    atomic.set(
      floorKey,
      floor.value !== null && floor.value > newest ? floor.value : newest,
    );
    // A failed check means another instance trimmed meanwhile: next round.
    const result = await atomic.commit();
    return result.ok && gone.length < BATCH;
  }

  /** Stops trimming, after the round in progress. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#closed = true;
    await this.#running;
  }
}
