/**
 * @module Retention for the kv engine: every instance, now and then, trims
 * each topic to its newest `size` events (and, with `maxAgeMs`, drops older
 * ones), removes a topic whole with its last event, keeps the bytes of all
 * topics within `maxBytes` by removing the topic published to least recently
 * first (as the memory history does), and trims the global log to its newest
 * `logSize` events, within `maxBytes` too.
 *
 * What is held is counted in `Deno.KvU64` sums (see keys.ts), so a round
 * reads the counters and then only the events it deletes, oldest first:
 * never the events it keeps. Each trim subtracts what it deleted and records
 * the newest stamp it removed (the floor) in the same atomic write, guarded
 * by a check on the floor, so two instances trimming at once neither delete
 * twice nor move a floor back.
 */
import type { Logger } from "../../lib/log.ts";
import {
  countOf,
  type KvKeys,
  type KvRecord,
  minus,
  recordBytes,
  stampOf,
} from "./keys.ts";

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
  /** Bytes all topics' events may hold (HISTORY_MAX_BYTES). */
  maxBytes: number;
  /** How often to trim. */
  intervalMs: number;
  /** Where failures are written. */
  logger: Logger;
  /** The wall clock in ms. */
  now: () => number;
}

/** What one trim of a topic removes. */
interface TopicCut {
  /** Keep at most this many of its newest events. */
  readonly keep: number;
  /** And none published before this wall-clock ms. */
  readonly cutoff: number;
  /** And at least this many bytes of its oldest events. */
  readonly free: number;
}

function bytesOf(record: KvRecord): number {
  return record.bytes ?? recordBytes(record.event);
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
  /** The doorbell's versionstamp after the last round that left nothing to trim. */
  #seenBell: string | null = null;

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
      // Every publish rings the bell: by count alone, nothing to do when no
      // publish came since a round that left nothing to trim.
      const bell = (await this.#kv.get(this.#keys.bell)).versionstamp;
      if (maxAgeMs === 0 && bell !== null && bell === this.#seenBell) return;
      let complete = true;
      // Every topic, least recently published first (the versionstamp of
      // its entry is its last publish's).
      const topics: [string, string][] = [];
      for await (const entry of this.#kv.list({ prefix: this.#keys.topics })) {
        topics.push([String(entry.key.at(-1)), entry.versionstamp]);
      }
      topics.sort((a, b) => a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
      // Forget what was remembered of topics that left the list, so this map
      // stays as small as the list.
      const listed = new Set(topics.map(([topic]) => topic));
      for (const topic of this.#seen.keys()) {
        if (!listed.has(topic)) this.#seen.delete(topic);
      }
      const newest = topics.at(-1)?.[1] ?? "";
      for (const [topic, stamp] of topics) {
        // By count alone, a topic not published to since its last trim has
        // nothing to trim; by age, time alone makes events old.
        if (maxAgeMs === 0 && this.#seen.get(topic) === stamp) continue;
        if (this.#closed) return;
        if (await this.#trimTopic(topic, { keep: size, cutoff, free: 0 })) {
          this.#seen.set(topic, stamp);
        } else complete = false;
      }
      if (!await this.#keepBudget(topics)) complete = false;
      if (!this.#closed && (maxAgeMs > 0 || newest !== this.#seenLog)) {
        if (await this.#trimLog(logSize, cutoff)) this.#seenLog = newest;
        else complete = false;
      }
      if (complete && !this.#closed) this.#seenBell = bell;
    } catch (error) {
      if (this.#closed) return;
      this.#options.logger.log("warn", "Cannot trim the Deno KV history", {
        error: (error as Error).message,
      });
    }
  }

  /**
   * Removes whole topics, least recently published first, while all topics
   * hold more than `maxBytes`; the last topic standing loses its oldest
   * events instead.
   */
  async #keepBudget(topics: readonly [string, string][]): Promise<boolean> {
    const { maxBytes } = this.#options;
    // A topic of more than one batch takes several writes; a bounded number
    // of retries keeps a round finite when other instances trim at once.
    for (let i = 0, retries = 0; i < topics.length && !this.#closed; i++) {
      const held = countOf(await this.#kv.get(this.#keys.allBytes));
      if (held <= maxBytes) return true;
      const [topic] = topics[i]!;
      if (i < topics.length - 1) {
        const cut = { keep: 0, cutoff: -Infinity, free: 0 };
        if (!await this.#trimTopic(topic, cut) && retries++ < 64) i--;
        continue;
      }
      // The newest topic alone is over budget: its oldest events go.
      await this.#trimTopic(topic, {
        keep: Infinity,
        cutoff: -Infinity,
        free: held - maxBytes,
      });
    }
    return countOf(await this.#kv.get(this.#keys.allBytes)) <= maxBytes;
  }

  /**
   * Deletes (one batch of) the topic's events past `cut`, oldest first, and
   * removes the topic whole when none is left; true when nothing is left to
   * delete.
   */
  async #trimTopic(topic: string, cut: TopicCut): Promise<boolean> {
    const keys = this.#keys;
    const [entry, countEntry, bytesEntry, floor, forgotten, all] = await this
      .#kv.getMany<unknown[]>([
        [...keys.topics, topic],
        keys.count(topic),
        keys.bytes(topic),
        keys.floor(topic),
        keys.forgotten,
        keys.allBytes,
      ]);
    const count = countOf(countEntry!);
    const excess = count - cut.keep;
    if (excess <= 0 && cut.cutoff === -Infinity && cut.free <= 0) return true;
    const prefix = keys.topic(topic);
    const gone: Deno.KvKey[] = [];
    let bytes = 0;
    let more = false;
    let kept = false;
    for await (
      const event of this.#kv.list<KvRecord>({ prefix }, { limit: BATCH + 1 })
    ) {
      if (
        gone.length >= excess && event.value.at >= cut.cutoff &&
        bytes >= cut.free
      ) {
        kept = true;
        break;
      }
      if (gone.length === BATCH) {
        more = true;
        break;
      }
      gone.push(event.key);
      bytes += bytesOf(event.value);
    }
    if (gone.length === 0) return true;
    const newestGone = stampOf(gone.at(-1)!);
    const atomic = this.#kv.atomic().check(floor!);
    for (const key of gone) atomic.delete(key);
    const emptied = !more && !kept;
    if (emptied) {
      // The topic's last event: the topic goes too, unless a publish came
      // meanwhile (the check on its entry), and its floor becomes the
      // forgotten stamp every replay compares with.
      const last = forgotten!.value as string | null;
      atomic.check(entry!, forgotten!)
        .delete(entry!.key)
        .delete(keys.count(topic))
        .delete(keys.bytes(topic))
        .delete(keys.floor(topic))
        .set(
          keys.forgotten,
          last !== null && last > newestGone ? last : newestGone,
        );
    } else {
      const old = floor!.value as string | null;
      atomic
        .sum(keys.count(topic), minus(Math.min(gone.length, count)))
        .sum(keys.bytes(topic), minus(Math.min(bytes, countOf(bytesEntry!))))
        .set(
          keys.floor(topic),
          old !== null && old > newestGone ? old : newestGone,
        );
    }
    atomic.sum(keys.allBytes, minus(Math.min(bytes, countOf(all!))));
    // A failed check means another instance trimmed, or a publish came to a
    // topic being removed, meanwhile: the next round sees the new state.
    const result = await atomic.commit();
    return result.ok && !more;
  }

  /** Deletes (one batch of) the log past `keep` or older than `cutoff`. */
  async #trimLog(keep: number, cutoff: number): Promise<boolean> {
    const keys = this.#keys;
    const [countEntry, bytesEntry, floor] = await this.#kv.getMany<unknown[]>(
      [keys.logCount, keys.logBytes, keys.logFloor],
    );
    const count = countOf(countEntry!);
    const held = countOf(bytesEntry!);
    const excess = count - keep;
    const free = held - this.#options.maxBytes;
    if (excess <= 0 && free <= 0 && cutoff === -Infinity) return true;
    const gone: Deno.KvKey[] = [];
    const claims: Deno.KvKey[] = [];
    let bytes = 0;
    let more = false;
    for await (
      const event of this.#kv.list<KvRecord>({ prefix: keys.log }, {
        limit: BATCH + 1,
      })
    ) {
      if (
        gone.length >= excess && event.value.at >= cutoff && bytes >= free
      ) break;
      if (gone.length === BATCH) {
        more = true;
        break;
      }
      gone.push(event.key);
      bytes += bytesOf(event.value);
      // A claim belongs to the log entry (topic entries are copies).
      if (event.value.unique !== undefined) {
        claims.push(keys.claim(event.value.unique));
      }
    }
    if (gone.length === 0) return true;
    const newestGone = stampOf(gone.at(-1)!);
    const old = floor!.value as string | null;
    const atomic = this.#kv.atomic().check(floor!);
    for (const key of [...gone, ...claims]) atomic.delete(key);
    atomic.sum(keys.logCount, minus(Math.min(gone.length, count)))
      .sum(keys.logBytes, minus(Math.min(bytes, held)))
      .set(keys.logFloor, old !== null && old > newestGone ? old : newestGone);
    const result = await atomic.commit();
    return result.ok && !more;
  }

  /** Stops trimming, after the round in progress. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#closed = true;
    await this.#running;
  }
}
