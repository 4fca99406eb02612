/**
 * @module Presence through Redis: each process writes its client count to a
 * shared hash every `intervalMs`, with an expiry time taken from Redis's own
 * clock, and reads back everyone's in the same script. An instance that dies
 * without saying so drops out once its entry expires.
 */
import type { Redis } from "ioredis";
import type { Presence } from "../../lib/bus.ts";
import { RedisScript } from "./connection.ts";

/**
 * KEYS[1] the presence hash; ARGV: this instance, its clients, the entry's
 * lifetime in ms. Writes this instance's entry, drops expired ones, and
 * returns the live entries as a flat list of name, clients.
 */
const REPORT = new RedisScript(`
if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1],
  ARGV[2] .. ':' .. string.format('%.0f', now + tonumber(ARGV[3])))
local all = redis.call('HGETALL', KEYS[1])
local live = {}
for i = 1, #all, 2 do
  local clients, expires = string.match(all[i + 1], '^(%d+):(%d+)$')
  if clients == nil or tonumber(expires) < now then
    redis.call('HDEL', KEYS[1], all[i])
  else
    live[#live + 1] = all[i]
    live[#live + 1] = clients
  end
end
return live
`);

/** How long close() waits for Redis to drop this instance's entry. */
const CLOSE_MS = 300;

/** Options for {@linkcode RedisPresence}. */
export interface RedisPresenceOptions {
  /** This instance's name in the hash; unique per instance. */
  instance: string;
  /** How often this instance writes its count and reads the others'. */
  intervalMs: number;
  /** How long an entry lives without being written again. */
  ttlMs: number;
  /** Called when a refresh fails. */
  onError: (error: Error) => void;
}

/** Shares this instance's client count and sums everyone's. */
export class RedisPresence {
  readonly #client: Redis;
  readonly #key: string;
  readonly #options: RedisPresenceOptions;
  readonly #timer: ReturnType<typeof setInterval>;
  #clients = 0;
  #otherClients = 0;
  #otherInstances = 0;
  /** When the others were last counted (performance.now()), or -Infinity. */
  #countedAt = -Infinity;
  #inFlight: Promise<void> | null = null;
  #closed = false;

  /** Starts refreshing every `intervalMs` on `client`, in hash `key`. */
  constructor(client: Redis, key: string, options: RedisPresenceOptions) {
    this.#client = client;
    this.#key = key;
    this.#options = options;
    this.#timer = setInterval(() => void this.refresh(), options.intervalMs);
  }

  /** Records this instance's client count (shared at the next refresh). */
  report(clients: number): void {
    this.#clients = clients;
  }

  /** Everyone's clients and instances as last seen, this one up to date. */
  snapshot(): Presence {
    // Without news for longer than an entry lives, the others cannot be
    // vouched for: count this instance alone.
    const fresh = performance.now() - this.#countedAt <= this.#options.ttlMs;
    return {
      clients: this.#clients + (fresh ? this.#otherClients : 0),
      instances: 1 + (fresh ? this.#otherInstances : 0),
    };
  }

  /** Writes this instance's count and reads the others' (one at a time). */
  refresh(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#inFlight ??= this.#refresh().finally(() => this.#inFlight = null);
    return this.#inFlight;
  }

  async #refresh(): Promise<void> {
    if (this.#client.status !== "ready") return;
    try {
      const reply = await REPORT.run(this.#client, [this.#key], [
        this.#options.instance,
        this.#clients,
        this.#options.ttlMs,
      ]) as string[];
      let clients = 0;
      let instances = 0;
      for (let i = 0; i + 1 < reply.length; i += 2) {
        if (reply[i] === this.#options.instance) continue;
        clients += Number(reply[i + 1]);
        instances++;
      }
      this.#otherClients = clients;
      this.#otherInstances = instances;
      this.#countedAt = performance.now();
    } catch (error) {
      if (!this.#closed) this.#options.onError(error as Error);
    }
  }

  /**
   * Stops refreshing and removes this instance's entry, giving Redis at most
   * `CLOSE_MS` (else the entry expires by itself). A refresh still waiting
   * is rejected when the caller closes the connection.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    if (this.#client.status !== "ready") return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#client.hdel(this.#key, this.#options.instance).catch(() => {}),
      new Promise((resolve) => timer = setTimeout(resolve, CLOSE_MS)),
    ]);
    clearTimeout(timer);
  }
}
