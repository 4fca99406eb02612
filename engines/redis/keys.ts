/**
 * @module The Redis keys herald uses, all under one prefix so that several
 * hubs (or test runs) can share a Redis:
 * - `<prefix>log`: the global stream every event goes to first; its ids are
 *   herald's event ids and its order is the hub's order. It also holds the
 *   marker entry (`g`) that starts each generation.
 * - `<prefix>topic:<topic>`: the last HISTORY_SIZE events of one topic, under
 *   the same ids as in the log, for replay.
 * - `<prefix>generation`: `<floor> <token>`, the life of the log its ids
 *   belong to (see redis_log_state.ts).
 * - `<prefix>presence`: a hash of process name to `<clients>:<expires at>`.
 */

/** Names the keys of one hub. */
export class RedisKeys {
  /** The global log stream. */
  readonly log: string;
  /** The log's generation. */
  readonly generation: string;
  /** The presence hash. */
  readonly presence: string;
  readonly #prefix: string;

  /** Keys under `prefix`, e.g. "herald:". */
  constructor(prefix: string) {
    this.#prefix = prefix;
    this.log = `${prefix}log`;
    this.generation = `${prefix}generation`;
    this.presence = `${prefix}presence`;
  }

  /** The stream that keeps `topic`'s history. */
  topic(topic: string): string {
    return `${this.#prefix}topic:${topic}`;
  }
}
