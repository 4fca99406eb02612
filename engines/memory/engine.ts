/**
 * @module The embedded engine, herald's default: events travel between the
 * isolates of one process on a {@linkcode BroadcastChannelBus} (or stay in
 * one isolate on a `LocalBus`) and each isolate keeps its own
 * {@linkcode MemoryHistory}. Web-only.
 */
import type { Bus } from "../../lib/bus.ts";
import type { Engine } from "../../lib/engine.ts";
import { MemoryHistory } from "../../lib/history.ts";
import { BroadcastChannelBus } from "./broadcast_channel_bus.ts";

/** A bus that can say after which id its isolate has seen every event. */
export interface HorizonBus extends Bus {
  /**
   * The id after which this isolate has received every event; replays from
   * an older id report that events may be missing.
   */
  horizon(): string;
}

/** Options for {@linkcode createMemoryEngine}. */
export interface MemoryEngineOptions {
  /** The bus. @default {a new BroadcastChannelBus} */
  bus?: HorizonBus;
  /** Events kept per topic (HISTORY_SIZE). @default {1000} */
  historySize?: number;
  /** Bytes the history may hold (HISTORY_MAX_BYTES). @default {67108864} */
  historyMaxBytes?: number;
}

/**
 * The in-memory engine: the bus, and a history whose floor is the bus's
 * horizon.
 *
 * @example One isolate
 * ```ts
 * import { createMemoryEngine } from "./engine.ts";
 * import { LocalBus } from "../../lib/bus.ts";
 * const engine = createMemoryEngine({ bus: new LocalBus() });
 * await engine.close();
 * ```
 */
export function createMemoryEngine(options: MemoryEngineOptions = {}): Engine {
  const bus = options.bus ?? new BroadcastChannelBus();
  const history = new MemoryHistory({
    ...(options.historySize === undefined ? {} : { size: options.historySize }),
    ...(options.historyMaxBytes === undefined
      ? {}
      : { maxBytes: options.historyMaxBytes }),
    horizon: () => bus.horizon(),
  });
  return { kind: "memory", bus, history, close: () => bus.close() };
}
