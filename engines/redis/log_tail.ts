/**
 * @module The Redis engine's {@linkcode EventLog}: the newest events of the
 * global log stream (`<prefix>log`), which every process appends to and
 * which keeps about `logSize` events, read newest first in pages until the
 * bounds are met. Generation markers are skipped.
 */
import type { Redis } from "ioredis";
import { BusUnavailableError, type HubEvent } from "../../lib/bus.ts";
import { type EventLog, type TailBounds, tailBytes } from "../../lib/engine.ts";
import { fieldsOf, logEvent } from "./bus.ts";
import { describeRedisError } from "./connection.ts";
import type { RedisKeys } from "./keys.ts";

/** Entries read per XREVRANGE. */
const PAGE = 256;

/** Reads the tail of the global log through `client`. */
export class RedisLog implements EventLog {
  readonly #client: Redis;
  readonly #keys: RedisKeys;

  /** Reads `keys.log` through `client` (the writer connection). */
  constructor(client: Redis, keys: RedisKeys) {
    this.#client = client;
    this.#keys = keys;
  }

  /** The newest events of the log within `bounds`, oldest first. */
  async tail(bounds: TailBounds): Promise<readonly HubEvent[]> {
    const newestFirst: HubEvent[] = [];
    let bytes = 0;
    let end = "+";
    while (newestFirst.length < bounds.limit) {
      let page: [string, string[]][];
      try {
        page = await this.#client.xrevrange(
          this.#keys.log,
          end,
          "-",
          "COUNT",
          PAGE,
        ) as [string, string[]][];
      } catch (error) {
        throw new BusUnavailableError(
          `Cannot read the Redis log: ${
            describeRedisError(this.#client, error)
          }`,
          { cause: error },
        );
      }
      for (const [id, list] of page) {
        const fields = fieldsOf(list);
        if (fields.g !== undefined) continue;
        const event = logEvent(id, fields);
        bytes += tailBytes(event);
        if (bytes > bounds.maxBytes) return newestFirst.reverse();
        newestFirst.push(event);
        if (newestFirst.length >= bounds.limit) break;
      }
      if (page.length < PAGE) break;
      end = `(${page.at(-1)![0]}`;
    }
    return newestFirst.reverse();
  }
}
