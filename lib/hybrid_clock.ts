/**
 * @module Hybrid logical clock: makes ids that follow wall-clock time but never
 * go backwards, and that come after every id this instance has seen. Web-only.
 */
import { compareIds, type EventId, ZERO_ID } from "./event_id.ts";

/** Options for {@linkcode HybridClock}. */
export interface HybridClockOptions {
  /**
   * The wall clock, in milliseconds.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

/**
 * A hybrid logical clock (Kulkarni et al., 2014). `next()` is strictly
 * increasing even when the wall clock goes backwards, and `observe()` moves it
 * past an id seen from another instance, so a later `next()` sorts after it.
 *
 * @example Ids always increase
 * ```ts
 * import { HybridClock } from "./hybrid_clock.ts";
 * import { compareIds } from "./event_id.ts";
 * const clock = new HybridClock("a", { now: () => 5 });
 * const first = clock.next();
 * if (compareIds(clock.next(), first) <= 0) throw new Error();
 * ```
 */
export class HybridClock {
  readonly #instance: string;
  readonly #now: () => number;
  #last: EventId = ZERO_ID;

  /** Makes a clock whose ids carry `instance`, a short `[a-z0-9]` instance name. */
  constructor(instance: string, options: HybridClockOptions = {}) {
    if (!/^[a-z0-9]{1,16}$/.test(instance)) {
      throw new RangeError(
        `Cannot create clock: bad instance name "${instance}"`,
      );
    }
    this.#instance = instance;
    this.#now = options.now ?? Date.now;
  }

  /** The name this clock writes into its ids. */
  get instance(): string {
    return this.#instance;
  }

  /** The latest id made or observed; every later `next()` sorts after it. */
  get current(): EventId {
    return this.#last;
  }

  /** Makes a new id, after every id made or observed so far. */
  next(): EventId {
    const wall = Math.floor(this.#now());
    const last = this.#last;
    this.#last = wall > last.ms
      ? { ms: wall, seq: 0, instance: this.#instance }
      : { ms: last.ms, seq: last.seq + 1, instance: this.#instance };
    return this.#last;
  }

  /** Moves the clock past `id`, so that later ids sort after it. */
  observe(id: EventId): void {
    if (compareIds(id, this.#last) > 0) this.#last = id;
  }
}
