/**
 * @module The engine: the one seam between the hub and where events travel
 * and stay. An engine owns delivery ({@linkcode Bus}: order, fan-out,
 * presence) and history ({@linkcode EventHistory}: replay) together, and
 * builds its own history, so the two always agree on what "after this id"
 * means. The hub and the routes know only this interface; the engines live
 * in `engines/` (memory, redis, kv). Web-only.
 */
import type { Bus, HubEvent } from "./bus.ts";
import type { EventHistory } from "./history.ts";

/** The engines herald ships. */
export type EngineKind = "memory" | "redis" | "kv";

/**
 * Delivery, history, presence and shutdown of one hub instance. Optional
 * capabilities stay on the bus as optional members (`instance`, `late`,
 * `onLoss`), so an engine that has no such power leaves them out.
 */
export interface Engine {
  /** Which engine this is (shown at start-up). */
  readonly kind: EngineKind;
  /** Carries events between hub instances in one order; presence. */
  readonly bus: Bus;
  /** Answers replays after an id. */
  readonly history: EventHistory;
  /**
   * The log of every topic's events that outlives this instance, when the
   * engine keeps one (Redis, KV); absent when each instance hears every
   * event itself (memory).
   */
  readonly log?: EventLog;
  /** Stops delivery and releases timers, channels and connections. */
  close(): Promise<void>;
}

/** Bounds of one {@linkcode EventLog.tail} read. */
export interface TailBounds {
  /** Events at most. */
  readonly limit: number;
  /**
   * Bytes at most, counted as 2 per character of each event's data; the
   * read stops at the first event past it.
   */
  readonly maxBytes: number;
}

/**
 * An optional power of an engine: the retained events of all topics, shared
 * by every process on it. The Mercure hub reads it to learn ids it did not
 * see live (a process started after they were published), so that replay and
 * publisher-id uniqueness do not depend on one instance's memory.
 */
export interface EventLog {
  /**
   * The newest retained events of all topics within `bounds`, oldest first,
   * in id order. Fewer than `limit` when the log holds fewer, or was trimmed.
   *
   * @throws {BusUnavailableError} when the store does not answer
   */
  tail(bounds: TailBounds): Promise<readonly HubEvent[]>;
}

/** The bytes {@linkcode TailBounds.maxBytes} counts for `event`. */
export function tailBytes(event: HubEvent): number {
  return 2 * event.data.length;
}

/**
 * Checks an engine option that counts something: a safe integer of at least
 * `min`, or a RangeError that names the action, the option and the value.
 *
 * @throws {RangeError} "Cannot <action>: <name> must be an integer of at least <min>, got <value>"
 */
export function checkEngineCount(
  action: string,
  option: {
    readonly name: string;
    readonly value: number;
    readonly min: number;
  },
): number {
  const { name, value, min } = option;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(
      `Cannot ${action}: ${name} must be an integer of at least ${min}, got ${value}`,
    );
  }
  return value;
}
