/**
 * @module Where herald's Redis log stands: its last id and its generation,
 * which life of the log an id belongs to. When Redis loses the log (restarted without persistence,
 * flushed, the key deleted), the next script that finds it missing starts a
 * new generation: it creates the log empty, with a floor id from Redis's
 * clock, and stores `<floor> <token>` in `<prefix>generation`. Every event of
 * that generation has an id above the floor, so an id below it is from an
 * older life of the log (history lost: a reset), and a reader that finds a
 * different generation than the one it was reading knows the log was
 * recreated. It costs a publish nothing until the log is missing.
 */
import type { Redis } from "ioredis";
import { RedisScript } from "./redis_connection.ts";
import type { RedisKeys } from "./redis_keys.ts";

/**
 * Lua: `last_id(key)`, the newest id a stream ever took ("0-0" for a missing
 * stream), also when trimming left it empty. Shared by every script.
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
 * Lua: `start_generation(log, generation, token)` creates the missing log
 * empty, with a floor id of Redis's clock as its last id, and stores the new
 * generation; `generation_of(log, generation, token)` answers the current one,
 * starting it when there is none (a log from before generations is adopted
 * whole, with floor "0-0"). Both return `<floor> <token>`.
 */
export const LUA_GENERATION = `
local function start_generation(log, generation, token)
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local floor = string.format('%.0f-0', now)
  redis.call('XADD', log, 'MAXLEN', '0', floor, 'p', '0-0')
  local value = floor .. ' ' .. token
  redis.call('SET', generation, value)
  return value
end
local function generation_of(log, generation, token)
  local value = redis.call('GET', generation)
  if value then return value end
  if redis.call('EXISTS', log) == 1 then
    value = '0-0 ' .. token
    redis.call('SET', generation, value)
    return value
  end
  return start_generation(log, generation, token)
end
`;

/** KEYS[1] the log, KEYS[2] the generation; ARGV[1] a token. */
const LOG_STATE = new RedisScript(`
if redis.replicate_commands then redis.replicate_commands() end
${LUA_LAST_ID}
${LUA_GENERATION}
local generation = generation_of(KEYS[1], KEYS[2], ARGV[1])
return {generation, last_id(KEYS[1])}
`);

/** Where the log stands: its generation and the newest id it ever took. */
export interface LogState {
  /** `<floor> <token>`: compare whole values to tell generations apart. */
  readonly generation: string;
  /** The newest id of the log (its floor while it holds no event yet). */
  readonly last: string;
}

/** The floor of a generation value: every id of that generation is above it. */
export function generationFloor(generation: string): string {
  return generation.split(" ")[0] ?? "0-0";
}

/** A random token that tells generations started in the same ms apart. */
export function generationToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Reads the log's generation (starting one when there is none) and its last
 * id, in one script: where a reader starts, and what it checks after every
 * reconnect and idle read.
 */
export async function readLogState(
  client: Redis,
  keys: RedisKeys,
  token: string,
): Promise<LogState> {
  const [generation, last] = await LOG_STATE.run(
    client,
    [keys.log, keys.generation],
    [token],
  ) as [string, string];
  return { generation: String(generation), last: String(last) };
}
