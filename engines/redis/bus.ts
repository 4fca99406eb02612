/**
 * @module A {@linkcode Bus} over Redis Streams, for herald processes on
 * several machines. A publish is one Lua script that appends the event to a
 * global log stream and to its topic's stream under the same id, so ids are
 * unique and ordered across topics and processes. One reader per instance
 * follows the log with XREAD BLOCK and hands every event to the local
 * listeners, resuming from the last id it delivered after any outage. What
 * it cannot deliver for good (the log was recreated, rolled back, or trimmed
 * past what it read), it reports through `onLoss` before any later event.
 */
import type { Redis } from "ioredis";
import {
  type Bus,
  type BusLoss,
  BusUnavailableError,
  type EventDraft,
  type HubEvent,
  type LossReason,
  type Presence,
} from "../../lib/bus.ts";
import { compareIdText, parseId } from "../../lib/event_id.ts";
import {
  closeRedisConnection,
  describeRedisError,
  RedisScript,
} from "./connection.ts";
import type { RedisKeys } from "./keys.ts";
import {
  generationFloor,
  type LogState,
  LUA_GENERATION,
  LUA_LAST_ID,
  readLogState,
  restartGeneration,
} from "./log_state.ts";
import type { RedisPresence } from "./presence.ts";
import { Listeners } from "../../lib/listeners.ts";

/**
 * KEYS[1] the log, KEYS[2] the topic's stream, KEYS[3] the log's generation;
 * ARGV: log length, topic length (0 keeps none), topic, event, data, a token
 * for a new generation, and "1" for a private event (kept as field `v`;
 * absent on public events). Returns the event's id.
 *
 * The id is made here, as XADD * would (Redis clock, never below the last
 * id), but above the last id of both streams, so the second XADD cannot fail
 * half way. Each entry keeps `p`, the id before it in its stream: the first
 * entry left after trimming then tells exactly which events are gone.
 * A missing log was lost (or never made): a new generation starts first.
 */
const PUBLISH = new RedisScript(`
if redis.replicate_commands then redis.replicate_commands() end
${LUA_LAST_ID}
local function split(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local log_last = last_id(KEYS[1])
if log_last == '0-0' and redis.call('EXISTS', KEYS[1]) == 0 then
  -- Defined only here, so a publish to an existing log pays nothing for it.
  ${LUA_GENERATION}
  start_generation(KEYS[1], KEYS[3], ARGV[6])
  log_last = last_id(KEYS[1])
end
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
if ARGV[7] == '1' then
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

/** Options for {@linkcode RedisBus}. */
export interface RedisBusOptions {
  /** This instance's name (in presence, stats and welcomes). */
  instance: string;
  /** The keys of this hub. */
  keys: RedisKeys;
  /** Where the log stood at start-up: the reader starts after its last id. */
  start: LogState;
  /** Random; names a generation this instance starts (see redis_log_state.ts). */
  token: string;
  /** Events kept per topic stream; 0 keeps none. */
  historySize: number;
  /** Events kept (approximately) in the global log. */
  logSize: number;
  /** How long one XREAD waits for new events. */
  blockMs: number;
  /** Shares and sums client counts. */
  presence: RedisPresence;
  /** Told about connection errors, lost events and listener errors (as well as `onLoss`). */
  onError: (error: Error) => void;
}

/** Events read per XREAD. */
const READ_BATCH = 512;
/** Pause after a failed read while the connection looks ready. */
const READ_RETRY_MS = 250;

/** Reads the fields of a stream entry (`[name, value, ...]`) into a record. */
export function fieldsOf(list: readonly string[]): Record<string, string> {
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
  readonly #listeners = new Listeners<HubEvent>();
  readonly #lossListeners = new Listeners<BusLoss>();
  /** The id of the last event handed to the listeners. */
  #last: string;
  /** The generation of the log that `#last` belongs to. */
  #generation: string;
  /** The newest id a publish of this instance got in `#generation` ("" for none). */
  #accepted = "";
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
    this.#last = options.start.last;
    this.#generation = options.start.generation;
    this.#loop = this.#read();
  }

  /** This instance's name on the bus. */
  get instance(): string {
    return this.#options.instance;
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
    const { keys, logSize, historySize, token } = this.#options;
    let id: unknown;
    try {
      id = await PUBLISH.run(
        this.#writer,
        [keys.log, keys.topic(draft.topic), keys.generation],
        [
          logSize,
          historySize,
          draft.topic,
          draft.event,
          draft.data,
          token,
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
    const event: HubEvent = {
      topic: draft.topic,
      event: draft.event,
      data: draft.data,
      id: String(id),
      ...(draft.private === true ? { private: true as const } : {}),
    };
    // If Redis comes back without it, the reader knows events were lost.
    this.#accepted = later(this.#accepted, event.id);
    return event;
  }

  /** Calls `listener` with every event read from the log from now on. */
  subscribe(listener: (event: HubEvent) => void): () => void {
    return this.#listeners.add(listener);
  }

  /**
   * Calls `listener` when the log lost events this instance will never
   * deliver, before any later event: "log-recreated" when Redis lost the log
   * (restarted empty, flushed) or the events it had read, "log-trimmed" when
   * the log was trimmed past events it had not read yet. Topics are always
   * null: the lost events are gone, and their topics with them.
   */
  onLoss(listener: (loss: BusLoss) => void): () => void {
    return this.#lossListeners.add(listener);
  }

  /** Records this instance's client count; shared at the next refresh. */
  reportClients(count: number): void {
    this.#options.presence.report(count);
  }

  /** Clients and instances across every herald instance on this Redis. */
  presence(): Presence {
    return this.#options.presence.snapshot();
  }

  /** Null while both connections to Redis are ready; otherwise which is not. */
  unready(): string | null {
    if (this.#closed) return "the Redis engine is closed";
    if (this.#writer.status !== "ready") return "Redis is not connected";
    if (this.#reader.status !== "ready") {
      return "Redis is not connected (reader)";
    }
    return null;
  }

  /** Stops the reader and presence, and closes both connections. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    this.#lossListeners.clear();
    this.#wake?.();
    await this.#options.presence.close();
    await Promise.all([
      closeRedisConnection(this.#reader),
      closeRedisConnection(this.#writer),
    ]);
    await this.#loop;
  }

  /**
   * The one reader of this instance: follows the log until closed. After an
   * error (Redis may have restarted meanwhile) and after an idle read, it
   * checks the log's generation before reading on; an entry that does not
   * follow the last one delivered is checked the same way before delivery,
   * and a generation's marker entry is the news of a new generation.
   */
  async #read(): Promise<void> {
    const { keys, blockMs } = this.#options;
    let check = false;
    while (!this.#closed) {
      try {
        if (check) {
          // Taken before asking: an id accepted while the answer travels
          // may be newer than the answer.
          const known = later(this.#last, this.#accepted);
          await this.#follow(await this.#logState(), known);
          check = false;
        }
        const reply: [string, [string, string[]][]][] | null = await this
          .#reader.xread(
            "COUNT",
            READ_BATCH,
            "BLOCK",
            blockMs,
            "STREAMS",
            keys.log,
            this.#last,
          );
        if (this.#closed) continue;
        if (reply === null) {
          // Quiet for blockMs: a recreated log whose ids are all below #last
          // (a Redis clock behind the old one) would stay silent forever.
          check = true;
          continue;
        }
        for (const [, entries] of reply) {
          for (const [id, list] of entries) {
            const fields = fieldsOf(list);
            if (fields.g !== undefined) {
              this.#marker(id, fields.g);
              continue;
            }
            const previous = fields.p ?? "";
            if (previous !== "" && previous !== this.#last) {
              await this.#gap(id, previous, await this.#logState());
            }
            this.#deliver(id, fields);
          }
        }
      } catch (error) {
        if (this.#closed) break;
        this.#options.onError(error as Error);
        check = true;
        await this.#pause();
      }
    }
  }

  #logState(): Promise<LogState> {
    return readLogState(this.#reader, this.#options.keys, this.#options.token);
  }

  /** Starts a new generation because Redis lost events of `#generation`. */
  async #restart(): Promise<LogState> {
    const { keys, token } = this.#options;
    return await restartGeneration(this.#reader, keys, this.#generation, token);
  }

  /** Moves to `generation`, telling the listeners that events were lost. */
  #newGeneration(generation: string, message: string): void {
    this.#generation = generation;
    this.#accepted = "";
    this.#lose("log-recreated", message);
  }

  /**
   * Between reads: a new generation means events are lost for good; so does
   * a log whose last id is below `known`, the newest id this instance had
   * delivered or published before asking (Redis came back from an older
   * copy). Then this instance starts a new generation, so that every other
   * process and every replay from before learns it too.
   */
  async #follow(state: LogState, known: string): Promise<void> {
    const from = this.#last;
    if (state.generation !== this.#generation) {
      const floor = generationFloor(state.generation);
      // Read on to the marker (a log adopted from before generations, "0-0",
      // is the same log); from the floor when the new log's ids are below.
      this.#last = floor === "0-0"
        ? earlier(from, state.last)
        : earlier(from, floor);
      this.#newGeneration(
        state.generation,
        `Cannot deliver every event: the Redis log began a new generation (Redis restarted empty or was flushed) after ${from}; events since then may be lost`,
      );
      return;
    }
    if (earlier(state.last, known) === known) return;
    const restarted = await this.#restart();
    this.#last = state.last;
    this.#newGeneration(
      restarted.generation,
      `Cannot deliver every event: the Redis log ends at ${state.last}, before ${known} that this process knew (Redis came back from an older copy)`,
    );
  }

  /** Entry `id` follows `previous`, not the last one delivered: say what was lost. */
  async #gap(id: string, previous: string, state: LogState): Promise<void> {
    const from = this.#last;
    if (state.generation !== this.#generation) {
      this.#newGeneration(
        state.generation,
        `Cannot deliver every event: the Redis log began a new generation (Redis restarted empty or was flushed) after ${from}; events since then may be lost`,
      );
    } else if (earlier(previous, from) === from) {
      this.#lose(
        "log-trimmed",
        `Cannot deliver every event: the Redis log lost the events between ${from} and ${id} before this process read them`,
      );
    } else {
      const restarted = await this.#restart();
      this.#newGeneration(
        restarted.generation,
        `Cannot deliver every event: the Redis log no longer follows ${from} (${id} comes after ${previous}); it was rewritten`,
      );
    }
  }

  /** A generation's marker: news of a new one, unless it is the one followed. */
  #marker(id: string, generation: string): void {
    const from = this.#last;
    this.#last = id;
    if (generation === this.#generation) return;
    this.#newGeneration(
      generation,
      `Cannot deliver every event: the Redis log began a new generation at ${id} after ${from}; events since then may be lost`,
    );
  }

  #deliver(id: string, fields: Record<string, string>): void {
    this.#last = id;
    this.#listeners.emit(logEvent(id, fields), this.#options.onError);
  }

  /** Logs a loss and tells the loss listeners, before any later event. */
  #lose(reason: LossReason, message: string): void {
    this.#options.onError(new Error(message));
    const loss: BusLoss = { reason, topics: null };
    this.#lossListeners.emit(loss, this.#options.onError);
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

/** The event of a log entry `id` with `fields` (`t`, `e`, `d`, `v`). */
export function logEvent(
  id: string,
  fields: Readonly<Record<string, string>>,
): HubEvent {
  return {
    topic: fields.t ?? "",
    event: fields.e ?? "",
    data: fields.d ?? "",
    id,
    ...(fields.v === "1" ? { private: true } : {}),
  };
}

/** The later of two Redis ids ("" counts as none; `b` when they are equal). */
function later(a: string, b: string): string {
  if (a === "") return b;
  if (b === "") return a;
  return earlier(a, b) === a ? b : a;
}

/** The earlier of two Redis ids (`a` when they are equal or do not parse). */
function earlier(a: string, b: string): string {
  if (parseId(a) === null || parseId(b) === null) return a;
  return compareIdText(b, a) < 0 ? b : a;
}
