/**
 * @module Replay from Redis: the events after a Last-Event-ID come from the
 * topic streams that every publish appends to (see redis_bus.ts), so any
 * herald process can replay what any other published, and history outlives
 * the processes. One Lua script reads every asked topic atomically, with
 * what the log says about the asked id: an id from an older generation of
 * the log (Redis restarted empty), ahead of the log, or missing from it
 * (Redis lost it) is history lost, and gets a reset rather than a silent,
 * empty replay.
 */
import type { Redis } from "ioredis";
import { BusUnavailableError, type HubEvent } from "../../lib/bus.ts";
import {
  compareIds,
  type EventId,
  parseId,
  ZERO_ID,
} from "../../lib/event_id.ts";
import type {
  EventHistory,
  ReplayPlan,
  ResetReason,
} from "../../lib/history.ts";
import { describeRedisError, RedisScript } from "./connection.ts";
import type { RedisKeys } from "./keys.ts";
import { generationFloor, LUA_LAST_ID } from "./log_state.ts";

/**
 * KEYS: the log, its generation, then the topic streams; ARGV: the first id
 * after Last-Event-ID, events kept per topic, Last-Event-ID as a Redis id.
 * Returns `{generation, last, oldest, known, plans}`: the generation (""
 * when there is none), the log's last and oldest ids ("" when empty),
 * whether the log holds the asked id, and for each topic `{floor, entries}`:
 * `floor` is the newest id of the topic that is not retained (the `p` of the
 * oldest entry left, or the last id of an emptied stream), `entries` the
 * newest `size` entries from the start id, newest first. When more are
 * there, the oldest extra one becomes the floor: herald keeps exactly `size`
 * per topic. Read-only: a missing generation is started by the bus.
 */
const REPLAY = new RedisScript(`
${LUA_LAST_ID}
local size = tonumber(ARGV[2])
local generation = redis.call('GET', KEYS[2]) or ''
local last = ''
if redis.call('EXISTS', KEYS[1]) == 1 then last = last_id(KEYS[1]) end
local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local first = ''
if #oldest > 0 then first = oldest[1][1] end
local known = #redis.call('XRANGE', KEYS[1], ARGV[3], ARGV[3], 'COUNT', 1)
local plans = {}
for i = 3, #KEYS do
  local key = KEYS[i]
  local floor = '0-0'
  local oldest = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)
  if #oldest > 0 then
    local fields = oldest[1][2]
    for j = 1, #fields, 2 do
      if fields[j] == 'p' then floor = fields[j + 1] end
    end
  else
    floor = last_id(key)
  end
  local entries = {}
  if size > 0 then
    entries = redis.call('XREVRANGE', key, '+', ARGV[1], 'COUNT', size + 1)
    if #entries > size then
      floor = entries[#entries][1]
      entries[#entries] = nil
    end
  end
  plans[i - 2] = {floor, entries}
end
return {generation, last, first, known, plans}
`);

type TopicPlan = [floor: string, entries: [string, string[]][]];
type ReplayReply = [
  generation: string,
  last: string,
  oldest: string,
  known: number,
  plans: TopicPlan[],
];

/** Options for {@linkcode RedisHistory}. */
export interface RedisHistoryOptions {
  /** The keys of this hub. */
  keys: RedisKeys;
  /** Events kept per topic (as the bus trims them); 0 keeps none. */
  size: number;
}

/** The first Redis id after `id`: XRANGE starts are inclusive. */
function nextId(id: EventId): string {
  // Redis ids have no instance part: "5-3" sorts before "5-3-instance", so the
  // first Redis id after either is "5-4".
  return `${id.ms}-${id.seq + 1}`;
}

/** Replays events from the topic streams in Redis. */
export class RedisHistory implements EventHistory {
  readonly #client: Redis;
  readonly #options: RedisHistoryOptions;

  /** Reads history through `client` (the bus's writer connection). */
  constructor(client: Redis, options: RedisHistoryOptions) {
    this.#client = client;
    this.#options = options;
  }

  /** Nothing to do: the publish script already stored the event. */
  record(_event: HubEvent): void {}

  /**
   * The retained events after `lastId` on `topics`, merged in id order, and
   * the topics that lost events after it. An id that does not parse, or that
   * this generation of the log never made (ahead of its last id, or missing
   * from what it retains), gets an "unknown-id" reset and no events; an id
   * below the generation's floor (history lost with an older log) gets a
   * "history-exceeded" reset for every topic, with what is retained.
   *
   * @throws {BusUnavailableError} when Redis does not answer.
   */
  async replay(topics: readonly string[], lastId: string): Promise<ReplayPlan> {
    const unique = [...new Set(topics)];
    const from = parseId(lastId);
    if (from === null) {
      return { events: [], reset: { reason: "unknown-id", topics: unique } };
    }
    if (unique.length === 0) return { events: [], reset: null };
    const { keys, size } = this.#options;
    let reply: ReplayReply;
    try {
      reply = await REPLAY.run(
        this.#client,
        [
          keys.log,
          keys.generation,
          ...unique.map((topic) => keys.topic(topic)),
        ],
        [nextId(from), size, `${from.ms}-${from.seq}`],
      ) as ReplayReply;
    } catch (error) {
      throw new BusUnavailableError(
        `Cannot replay: Redis is unavailable (${
          describeRedisError(this.#client, error)
        })`,
        { cause: error },
      );
    }
    const [generation, last, oldest, known, plans] = reply;
    const log = logVerdict(from, generation, last, oldest, known === 1);
    if (log === "unknown-id") {
      return { events: [], reset: { reason: "unknown-id", topics: unique } };
    }
    const found: { id: EventId; event: HubEvent }[] = [];
    const lost: string[] = [];
    unique.forEach((topic, i) => {
      const [floor, entries] = plans[i] ?? ["0-0", []];
      const floorId = parseId(floor);
      if (
        log === "history-exceeded" ||
        (floorId !== null && compareIds(from, floorId) < 0)
      ) {
        lost.push(topic);
      }
      for (const [id, list] of entries) {
        const parsed = parseId(id);
        if (parsed === null) continue;
        found.push({ id: parsed, event: toEvent(topic, id, list) });
      }
    });
    found.sort((a, b) => compareIds(a.id, b.id));
    return {
      events: found.map((entry) => entry.event),
      reset: lost.length > 0
        ? { reason: "history-exceeded", topics: lost }
        : null,
    };
  }
}

/**
 * What the log says about the asked id `from`: "history-exceeded" when it is
 * below the floor of the log's generation (or there is no log at all: Redis
 * lost it and nothing was published since), "unknown-id" when this
 * generation never made it, null when it is an id of this log.
 */
function logVerdict(
  from: EventId,
  generation: string,
  last: string,
  oldest: string,
  known: boolean,
): ResetReason | null {
  if (generation === "" && last === "") return "history-exceeded";
  // A log from before generations is adopted whole (floor "0-0").
  const floor = parseId(
    generation === "" ? "0-0" : generationFloor(generation),
  );
  if (floor === null || compareIds(from, floor) < 0) return "history-exceeded";
  const base: EventId = { ms: from.ms, seq: from.seq, instance: "" };
  const lastId = parseId(last) ?? ZERO_ID;
  if (compareIds(base, lastId) > 0) return "unknown-id";
  const oldestId = parseId(oldest);
  if (oldestId !== null && compareIds(base, oldestId) >= 0 && !known) {
    return "unknown-id";
  }
  return null;
}

/** Makes a HubEvent from a topic stream entry (`[name, value, ...]`). */
function toEvent(topic: string, id: string, list: readonly string[]): HubEvent {
  let event = "";
  let data = "";
  let isPrivate = false;
  for (let i = 0; i + 1 < list.length; i += 2) {
    if (list[i] === "e") event = list[i + 1] as string;
    else if (list[i] === "d") data = list[i + 1] as string;
    else if (list[i] === "v") isPrivate = list[i + 1] === "1";
  }
  return isPrivate
    ? { topic, event, data, id, private: true }
    : { topic, event, data, id };
}
