/**
 * @module Deadlines for many items behind one timer: streams that must end
 * when their token expires. Items are kept in buckets of one second (a
 * token's `exp` is in whole seconds), and only the earliest bucket has a
 * timer, so 10,000 streams with tokens cost one timer, not 10,000. Web-only.
 */

/** Longest delay a timer takes (about 24.8 days); later deadlines re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `onExpire(item)` once an item's deadline has passed, unless it was
 * deleted first.
 *
 * @example Two deadlines, one deleted
 * ```ts
 * import { Expiries } from "./expiries.ts";
 * const ended: string[] = [];
 * const expiries = new Expiries<string>((item) => ended.push(item));
 * expiries.set("a", Date.now());
 * expiries.set("b", Date.now());
 * expiries.delete("b");
 * await new Promise((resolve) => setTimeout(resolve, 20));
 * if (ended.join() !== "a") throw new Error(ended.join());
 * expiries.close();
 * ```
 */
export class Expiries<T> {
  readonly #onExpire: (item: T) => void;
  readonly #now: () => number;
  /** Item → the second of its bucket. */
  readonly #due = new Map<T, number>();
  /** Second → the items due then. */
  readonly #buckets = new Map<number, Set<T>>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** The second the timer is armed for. */
  #armedFor = Number.POSITIVE_INFINITY;

  /** Calls `onExpire` for each item whose deadline passes. */
  constructor(onExpire: (item: T) => void, now: () => number = Date.now) {
    this.#onExpire = onExpire;
    this.#now = now;
  }

  /** Items waiting. */
  get size(): number {
    return this.#due.size;
  }

  /** Ends `item` at `at` (ms since the epoch; rounded up to the second). Infinity: never. */
  set(item: T, at: number): void {
    this.delete(item);
    if (at === Number.POSITIVE_INFINITY) return;
    const second = Math.ceil(at / 1000);
    this.#due.set(item, second);
    let bucket = this.#buckets.get(second);
    if (bucket === undefined) {
      bucket = new Set();
      this.#buckets.set(second, bucket);
    }
    bucket.add(item);
    if (second < this.#armedFor) this.#arm(second);
  }

  /** Forgets `item`'s deadline. */
  delete(item: T): void {
    const second = this.#due.get(item);
    if (second === undefined) return;
    this.#due.delete(item);
    const bucket = this.#buckets.get(second);
    bucket?.delete(item);
    if (bucket?.size === 0) this.#buckets.delete(second);
    if (this.#due.size === 0) this.#disarm();
  }

  /** Forgets every deadline and stops the timer. */
  close(): void {
    this.#due.clear();
    this.#buckets.clear();
    this.#disarm();
  }

  #arm(second: number): void {
    this.#disarm();
    this.#armedFor = second;
    const delay = Math.min(
      Math.max(0, second * 1000 - this.#now()),
      MAX_TIMER_MS,
    );
    this.#timer = setTimeout(() => this.#fire(), delay);
  }

  #disarm(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#armedFor = Number.POSITIVE_INFINITY;
  }

  #fire(): void {
    this.#timer = null;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const now = this.#now();
    for (const [second, bucket] of [...this.#buckets]) {
      if (second * 1000 > now) continue;
      this.#buckets.delete(second);
      for (const item of bucket) {
        this.#due.delete(item);
        this.#onExpire(item);
      }
    }
    let next = Number.POSITIVE_INFINITY;
    for (const second of this.#buckets.keys()) next = Math.min(next, second);
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next);
  }
}
