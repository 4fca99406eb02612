/**
 * @module A set of listeners, as every bus keeps two (events and losses):
 * add one and get its removal, call them all, forget them. Web-only.
 */

/**
 * Listeners of values of type `T`.
 *
 * @example Add, emit, remove
 * ```ts
 * import { Listeners } from "./listeners.ts";
 * const seen: number[] = [];
 * const listeners = new Listeners<number>();
 * const remove = listeners.add((n) => seen.push(n));
 * listeners.emit(1);
 * remove();
 * listeners.emit(2);
 * if (seen.join() !== "1") throw new Error();
 * ```
 */
export class Listeners<T> {
  readonly #set = new Set<(value: T) => void>();

  /** Adds `listener`; returns the function that removes it. */
  add(listener: (value: T) => void): () => void {
    this.#set.add(listener);
    return () => {
      this.#set.delete(listener);
    };
  }

  /**
   * Calls every listener with `value`. With `onError`, a listener that throws
   * is reported there and the others are still called.
   */
  emit(value: T, onError?: (error: Error) => void): void {
    for (const listener of this.#set) {
      if (onError === undefined) {
        listener(value);
        continue;
      }
      try {
        listener(value);
      } catch (error) {
        onError(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  /** Forgets every listener. */
  clear(): void {
    this.#set.clear();
  }
}
