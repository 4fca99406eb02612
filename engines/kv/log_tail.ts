/**
 * @module The kv engine's {@linkcode EventLog}: the newest events of the
 * global log (`[p, "log", stamp]`), which every instance writes and which
 * the trimmer keeps to `logSize` events, read newest first until the bounds
 * are met.
 */
import { BusUnavailableError, type HubEvent } from "../../lib/bus.ts";
import { type EventLog, type TailBounds, tailBytes } from "../../lib/engine.ts";
import { type KvKeys, type KvRecord, stampOf } from "./keys.ts";

/** Reads the tail of the global log in Deno KV. */
export class KvLog implements EventLog {
  readonly #kv: Deno.Kv;
  readonly #keys: KvKeys;

  /** Reads `kv` under `keys`. */
  constructor(kv: Deno.Kv, keys: KvKeys) {
    this.#kv = kv;
    this.#keys = keys;
  }

  /** The newest events of the log within `bounds`, oldest first. */
  async tail(bounds: TailBounds): Promise<readonly HubEvent[]> {
    const newestFirst: HubEvent[] = [];
    if (bounds.limit <= 0) return newestFirst;
    let bytes = 0;
    try {
      for await (
        const entry of this.#kv.list<KvRecord>({ prefix: this.#keys.log }, {
          reverse: true,
          limit: bounds.limit,
        })
      ) {
        const event: HubEvent = {
          ...entry.value.event,
          id: stampOf(entry.key),
        };
        bytes += tailBytes(event);
        if (bytes > bounds.maxBytes) break;
        newestFirst.push(event);
      }
    } catch (error) {
      throw new BusUnavailableError(
        `Cannot read the Deno KV log: ${(error as Error).message}`,
        { cause: error },
      );
    }
    return newestFirst.reverse();
  }
}
