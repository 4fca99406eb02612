/**
 * @module The kv engine's history: replay after an id reads each topic's
 * keys after that versionstamp, straight from the database, so it survives
 * restarts and is the same on every instance. A topic's trim floor says how
 * far retention removed events, and the forgotten stamp how far it removed
 * topics whole; a replay from before either reports a reset.
 */
import type { HubEvent } from "../../lib/bus.ts";
import { parseId } from "../../lib/event_id.ts";
import type { EventHistory, ReplayPlan } from "../../lib/history.ts";
import { type KvKeys, type KvRecord, stampOf } from "./keys.ts";

/** Replays from the topic keys in Deno KV. */
export class KvHistory implements EventHistory {
  readonly #kv: Deno.Kv;
  readonly #keys: KvKeys;

  /** Reads `kv` under `keys`. */
  constructor(kv: Deno.Kv, keys: KvKeys) {
    this.#kv = kv;
    this.#keys = keys;
  }

  /** Nothing to do: the publish already stored the event. */
  record(_event: HubEvent): void {}

  /**
   * The stored events after `lastId` on `topics`, in id order. An id that is
   * not a versionstamp (from another engine, or made up) gets `unknown-id`.
   */
  async replay(topics: readonly string[], lastId: string): Promise<ReplayPlan> {
    const from = parseId(lastId);
    if (from?.stamp === undefined) {
      return {
        events: [],
        reset: { reason: "unknown-id", topics: [...topics] },
      };
    }
    const perTopic = await Promise.all(
      topics.map((topic) => this.#topic(topic, lastId)),
    );
    const events = perTopic.flatMap((answer) => answer.events);
    if (topics.length > 1) {
      events.sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    }
    const lost = topics.filter((_, i) => perTopic[i]!.lost);
    return {
      events,
      reset: lost.length > 0
        ? { reason: "history-exceeded", topics: lost }
        : null,
    };
  }

  async #topic(
    topic: string,
    after: string,
  ): Promise<{ events: HubEvent[]; lost: boolean }> {
    const [floor, forgotten] = await this.#kv.getMany<(string | null)[]>([
      this.#keys.floor(topic),
      this.#keys.forgotten,
    ]);
    const prefix = this.#keys.topic(topic);
    const events: HubEvent[] = [];
    for await (
      const entry of this.#kv.list<KvRecord>({
        prefix,
        start: [...prefix, after],
      })
    ) {
      const id = stampOf(entry.key);
      if (id !== after) events.push({ ...entry.value.event, id });
    }
    const lost = [floor!.value, forgotten!.value].some((stamp) =>
      stamp !== null && stamp > after
    );
    return { events, lost };
  }
}
