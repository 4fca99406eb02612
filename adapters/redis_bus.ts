/**
 * @module A {@linkcode Bus} over Redis Streams, for herald processes on
 * several machines. A publish is one Lua script that appends the event to a
 * global log stream and to its topic's stream under the same id, so ids are
 * unique and ordered across topics and processes. One reader per process
 * follows the log with XREAD BLOCK and hands every event to the local
 * listeners, resuming from the last id it delivered after any outage.
 */
import type { Redis } from "ioredis";
import {
  type Bus,
  BusUnavailableError,
  type EventDraft,
  type HubEvent,
  type Presence,
} from "../lib/bus.ts";
import {
  closeRedisConnection,
  describeRedisError,
  RedisScript,
} from "./redis_connection.ts";
import type { RedisKeys } from "./redis_keys.ts";
import type { RedisPresence } from "./redis_presence.ts";

/**
 * The newest id a stream ever took ("0-0" for a missing stream), also when
 * trimming left it empty. Shared by the publish and replay scripts.
 */
export const LUA_LAST_ID = `
local function last_id(key)
  local newest = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  if #newest > 0 then return newest[1][1] end
  if redis.call('EXISTS', key) == 0 then return '0-0' end
  local info = redis.call('XINFO', 'STREAM', key)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then return info[i + 1] end
  end
  return '0-0'
end
`;

/**
 * KEYS[1] the log, KEYS[2] the topic's stream; ARGV: log length, topic
 * length (0 keeps none), topic, event, data, and "1" for a private event
 * (kept as field `v`; absent on public events). Returns the event's id.
 *
 * The id is made here, as XADD * would (Redis clock, never below the last
 * id), but above the last id of both streams, so the second XADD cannot fail
 * half way. Each entry keeps `p`, the id before it in its stream: the first
 * entry left after trimming then tells exactly which events are gone.
 */
const PUBLISH = new RedisScript(`
if redis.replicate_commands then redis.replicate_commands() end
${LUA_LAST_ID}
local function split(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local log_last = last_id(KEYS[1])
local topic_last = last_id(KEYS[2])
local ms, seq = split(log_last)
local topic_ms, topic_seq = split(topic_last)
if topic_ms > ms or (topic_ms == ms and topic_seq > seq) then
  ms, seq = topic_ms, topic_seq
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local id
if now > ms then
  id = string.format('%.0f-0', now)
else
  id = string.format('%.0f-%.0f', ms, seq + 1)
end
local log_fields = {'t', ARGV[3], 'e', ARGV[4], 'd', ARGV[5], 'p', log_last}
local topic_fields = {'e', ARGV[4], 'd', ARGV[5], 'p', topic_last}
if ARGV[6] == '1' then
  table.insert(log_fields, 'v')
  table.insert(log_fields, '1')
  table.insert(topic_fields, 'v')
  table.insert(topic_fields, '1')
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], id, unpack(log_fields))
if tonumber(ARGV[2]) > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], id,
    unpack(topic_fields))
else
  redis.call('XADD', KEYS[2], 'MAXLEN', '0', id, 'p', topic_last)
end
return id
`);

/** The id of the newest event in the log, or "0-0": where a new reader starts. */
export async function lastLogId(
  client: Redis,
  keys: RedisKeys,
): Promise<string> {
  const newest = await client.xrevrange(keys.log, "+", "-", "COUNT", 1);
  return newest[0]?.[0] ?? "0-0";
}

/** Options for {@linkcode RedisBus}. */
export interface RedisBusOptions {
  /** This process's name (in presence, stats and welcomes). */
  node: string;
  /** The keys of this hub. */
  keys: RedisKeys;
  /** The log id the reader starts after (see {@linkcode lastLogId}). */
  after: string;
  /** Events kept per topic stream; 0 keeps none. */
  historySize: number;
  /** Events kept (approximately) in the global log. */
  logSize: number;
  /** How long one XREAD waits for new events. */
  blockMs: number;
  /** Shares and sums client counts. */
  presence: RedisPresence;
  /** Told about connection errors, lost events and listener errors. */
  onError: (error: Error) => void;
}

/** Events read per XREAD. */
const READ_BATCH = 512;
/** Pause after a failed read while the connection looks ready. */
const READ_RETRY_MS = 250;

/** Reads the fields of a stream entry (`[name, value, ...]`) into a record. */
function fieldsOf(list: readonly string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) {
    fields[list[i] as string] = list[i + 1] as string;
  }
  return fields;
}

/**
 * The bus of a herald process whose events go through Redis. Made by
 * `connectRedisEngine()`; it owns both connections and closes them.
 */
export class RedisBus implements Bus {
  readonly #writer: Redis;
  readonly #reader: Redis;
  readonly #options: RedisBusOptions;
  readonly #listeners = new Set<(event: HubEvent) => void>();
  /** The id of the last event handed to the listeners. */
  #last: string;
  #closed = false;
  #closing: Promise<void> | null = null;
  /** Ends a pause of the reader (set while it waits). */
  #wake: (() => void) | null = null;
  readonly #loop: Promise<void>;

  /** Starts the reader on `reader`; publishes go through `writer`. */
  constructor(writer: Redis, reader: Redis, options: RedisBusOptions) {
    this.#writer = writer;
    this.#reader = reader;
    this.#options = options;
    this.#last = options.after;
    this.#loop = this.#read();
  }

  /** This process's name on the bus. */
  get node(): string {
    return this.#options.node;
  }

  /**
   * Appends the event to Redis and resolves with it under its Redis id. Local
   * listeners get it from the reader, like everyone else's, shortly after.
   *
   * @throws {BusUnavailableError} when Redis does not take it (disconnected,
   * no answer within the command timeout, out of memory, read-only). After a
   * timeout, Redis may still have taken the event.
   */
  async publish(draft: EventDraft): Promise<HubEvent> {
    if (this.#closed) {
      throw new BusUnavailableError("Cannot publish: the Redis bus is closed");
    }
    const { keys, logSize, historySize } = this.#options;
    let id: unknown;
    try {
      id = await PUBLISH.run(
        this.#writer,
        [keys.log, keys.topic(draft.topic)],
        [
          logSize,
          historySize,
          draft.topic,
          draft.event,
          draft.data,
          draft.private === true ? "1" : "0",
        ],
      );
    } catch (error) {
      throw new BusUnavailableError(
        `Cannot publish: Redis is unavailable (${
          describeRedisError(this.#writer, error)
        })`,
        { cause: error },
      );
    }
    return {
      topic: draft.topic,
      event: draft.event,
      data: draft.data,
      id: String(id),
      ...(draft.private === true ? { private: true } : {}),
    };
  }

  /** Calls `listener` with every event read from the log from now on. */
  subscribe(listener: (event: HubEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Records this process's client count; shared at the next refresh. */
  reportClients(count: number): void {
    this.#options.presence.report(count);
  }

  /** Clients and processes across every herald process on this Redis. */
  presence(): Presence {
    return this.#options.presence.snapshot();
  }

  /** "0-0": history lives in Redis, shared by every process. */
  horizon(): string {
    return "0-0";
  }

  /** Stops the reader and presence, and closes both connections. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    this.#wake?.();
    await this.#options.presence.close();
    await Promise.all([
      closeRedisConnection(this.#reader),
      closeRedisConnection(this.#writer),
    ]);
    await this.#loop;
  }

  /** The one reader of this process: follows the log until closed. */
  async #read(): Promise<void> {
    const { keys, blockMs } = this.#options;
    while (!this.#closed) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = await this.#reader.xread(
          "COUNT",
          READ_BATCH,
          "BLOCK",
          blockMs,
          "STREAMS",
          keys.log,
          this.#last,
        );
      } catch (error) {
        if (this.#closed) break;
        this.#options.onError(error as Error);
        await this.#pause();
        continue;
      }
      if (this.#closed || reply === null) continue;
      for (const [, entries] of reply) {
        for (const [id, list] of entries) this.#deliver(id, fieldsOf(list));
      }
    }
  }

  #deliver(id: string, fields: Record<string, string>): void {
    const previous = fields.p ?? "";
    if (previous !== "" && previous !== this.#last) {
      this.#options.onError(
        new Error(
          `Cannot deliver every event: the Redis log lost the events between ${this.#last} and ${id} before this process read them`,
        ),
      );
    }
    this.#last = id;
    const event: HubEvent = {
      topic: fields.t ?? "",
      event: fields.e ?? "",
      data: fields.d ?? "",
      id,
      ...(fields.v === "1" ? { private: true } : {}),
    };
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#options.onError(error as Error);
      }
    }
  }

  /**
   * Waits before the next read: until the connection is ready again when it
   * dropped (ioredis reconnects), else a short while; or until closed.
   */
  #pause(): Promise<void> {
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        clearTimeout(timer);
        this.#reader.off("ready", done);
        this.#wake = null;
        resolve();
      };
      this.#wake = done;
      if (this.#reader.status === "ready") {
        timer = setTimeout(done, READ_RETRY_MS);
      } else {
        this.#reader.once("ready", done);
      }
    });
  }
}
