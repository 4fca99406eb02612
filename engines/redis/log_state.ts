/**
 * @module Where herald's Redis log stands: its last id and its generation,
 * which life of the log an id belongs to. A generation starts when a script
 * finds the log missing (Redis restarted without persistence, was flushed,
 * the key deleted), or when a process finds that Redis lost events it knew
 * of (Redis came back from an older copy of the log). Starting one appends a
 * marker entry `{g: "<floor> <token>", p}` to the log under a new floor id
 * (from Redis's clock, above the log's last id) and stores the same value in
 * `<prefix>generation`. Every event of the generation has an id above the
 * floor, so a Last-Event-ID below it is from an older life of the log
 * (history lost: a reset), and every reader meets the marker in the log, in
 * order, or finds the new value when it checks: either way it tells its
 * streams. It costs a publish nothing until the log is missing.
 */
import type { Redis } from "ioredis";
import { RedisScript } from "./connection.ts";
import type { RedisKeys } from "./keys.ts";

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
 * Lua: `start_generation(log, generation, token)` appends a marker of a new
 * generation to the log (creating it when missing) and stores it;
 * `generation_of(log, generation, token)` answers the current one, starting
 * it when there is none (a log from before generations is adopted whole,
 * with floor "0-0"). Both return `<floor> <token>`. Needs `last_id`.
 */
export const LUA_GENERATION = `
local function start_generation(log, generation, token)
  local last = last_id(log)
  local last_ms, last_seq = string.match(last, '^(%d+)-(%d+)$')
  last_ms, last_seq = tonumber(last_ms), tonumber(last_seq)
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local floor
  if now > last_ms then
    floor = string.format('%.0f-0', now)
  else
    floor = string.format('%.0f-%.0f', last_ms, last_seq + 1)
  end
  local value = floor .. ' ' .. token
  redis.call('XADD', log, floor, 'g', value, 'p', last)
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

/**
 * KEYS[1] the log, KEYS[2] the generation; ARGV[1] the generation that lost
 * events, ARGV[2] a token. Starts a new generation unless another process
 * already did.
 */
const RESTART = new RedisScript(`
if redis.replicate_commands then redis.replicate_commands() end
${LUA_LAST_ID}
${LUA_GENERATION}
if redis.call('GET', KEYS[2]) == ARGV[1] then
  start_generation(KEYS[1], KEYS[2], ARGV[2])
end
return {generation_of(KEYS[1], KEYS[2], ARGV[2]), last_id(KEYS[1])}
`);

/** Where the log stands: its generation and the newest id it ever took. */
export interface LogState {
  /** `<floor> <token>`: compare whole values to tell generations apart. */
  readonly generation: string;
  /** The newest id of the log (the marker of its generation while it holds no event yet). */
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

/**
 * Starts a new generation after `lost` lost events (unless another process
 * already did), so that every process resets its streams and every replay
 * from before resets too; answers the log's state after it.
 */
export async function restartGeneration(
  client: Redis,
  keys: RedisKeys,
  lost: string,
  token: string,
): Promise<LogState> {
  const [generation, last] = await RESTART.run(
    client,
    [keys.log, keys.generation],
    [lost, token],
  ) as [string, string];
  return { generation: String(generation), last: String(last) };
}
