/**
 * @module Opening and closing herald's Redis connections (ioredis), and
 * running its Lua scripts. The settings here are what keep herald honest when
 * Redis fails: no offline queue (a command while disconnected fails at once),
 * no resend of unanswered commands after a reconnect (a publish is never
 * doubled), a timeout on every command, and a bounded connect.
 */
import { createHash } from "node:crypto";
import { Redis } from "ioredis";

/** How long ioredis waits for a closing socket before destroying it. */
const DISCONNECT_MS = 200;

/** Options for {@linkcode openRedisConnection}. */
export interface RedisConnectionOptions {
  /** Shown by `CLIENT LIST`, e.g. `herald:ab12cd:reader`. */
  name: string;
  /** Start-up fails after this long without a ready connection. */
  connectTimeoutMs: number;
  /** A command without an answer after this long is rejected. */
  commandTimeoutMs: number;
  /** Called with every connection error (ioredis keeps reconnecting). */
  onError: (error: Error) => void;
  /** Called each time the connection is (again) ready. */
  onReady: () => void;
}

/** Hides the password of a Redis URL, for messages. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.href;
  } catch {
    return "<invalid URL>";
  }
}

/**
 * Says in a few words why a command failed, for messages that reach HTTP
 * clients (no library internals): "not connected", "no answer within 3000
 * ms", or Redis's own error (OOM, READONLY...).
 */
export function describeRedisError(client: Redis, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (message === "Command timed out") {
    return `no answer within ${client.options.commandTimeout} ms`;
  }
  if (client.status !== "ready") return "not connected";
  return plainRedisReason(message);
}

/**
 * The words of a Redis client error an operator should read: the library's
 * own phrasing of a lost connection or a timeout ("Reached the max retries
 * per request limit…", "Connection is closed.", ECONNREFUSED) becomes "not
 * connected" or "no answer in time"; Redis's own errors (OOM, READONLY…)
 * stay as they are.
 */
export function plainRedisReason(message: string): string {
  if (message === "Command timed out") return "no answer in time";
  if (
    /Connection is closed|isn't writeable|max retries per request|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|socket/i
      .test(message)
  ) {
    return "not connected";
  }
  return message;
}

/** The delay before the `attempt`-th reconnect: 50 ms doubling, at most 1 s. */
function backoff(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt - 1, 5), 1000);
}

/**
 * Opens one connection and waits until it is ready, for at most
 * `connectTimeoutMs`. Once open, it reconnects by itself until closed with
 * {@linkcode closeRedisConnection}.
 *
 * @throws {Error} "Cannot connect to Redis at <url>: <reason>"
 */
export async function openRedisConnection(
  url: string,
  options: RedisConnectionOptions,
): Promise<Redis> {
  const where = redactRedisUrl(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`Cannot connect to Redis: "${where}" is not a URL`);
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new Error(
      `Cannot connect to Redis at ${where}: the scheme must be redis: or rediss:`,
    );
  }
  const client = new Redis(url, {
    lazyConnect: true,
    connectionName: options.name,
    connectTimeout: options.connectTimeoutMs,
    commandTimeout: options.commandTimeoutMs,
    // Past this without any reply while commands wait, the socket is
    // considered dead and replaced (a frozen server or a lost route).
    socketTimeout: options.commandTimeoutMs + 2000,
    disconnectTimeout: DISCONNECT_MS,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    protocol: 2,
    // No retry while starting: a failed first connect ends the client, so
    // start-up fails fast; reconnecting is switched on once it is ready.
    retryStrategy: () => null,
  });
  let lastError: Error | null = null;
  client.on("error", (error: Error) => {
    lastError = error;
    options.onError(error);
  });
  client.on("ready", () => options.onReady());
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new Error(`no answer within ${options.connectTimeoutMs} ms`)),
      options.connectTimeoutMs,
    );
  });
  try {
    await Promise.race([client.connect(), timeout]);
  } catch (error) {
    await closeRedisConnection(client);
    const reason = (lastError ?? error) as Error;
    throw new Error(`Cannot connect to Redis at ${where}: ${reason.message}`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
  client.options.retryStrategy = backoff;
  return client;
}

/** Closes a connection and waits until its socket and timers are gone. */
export async function closeRedisConnection(client: Redis): Promise<void> {
  if (client.status === "end") return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let done = () => {};
  const ended = new Promise<void>((resolve) => {
    done = resolve;
    client.once("end", done);
    // When the socket had already dropped, ioredis emits no "end" and ends it
    // with a timer of DISCONNECT_MS: wait that long so nothing outlives close.
    timer = setTimeout(done, DISCONNECT_MS + 50);
  });
  client.disconnect();
  await ended;
  clearTimeout(timer);
  client.off("end", done);
}

/** A Lua script run with EVALSHA, falling back to EVAL after a Redis restart. */
export class RedisScript {
  readonly #lua: string;
  readonly #sha: string;

  /** Wraps the source of a script. */
  constructor(lua: string) {
    this.#lua = lua;
    // Known synchronously, so concurrent runs go out in call order.
    this.#sha = createHash("sha1").update(lua).digest("hex");
  }

  /** Runs the script with `keys` and `args` and returns its reply. */
  async run(
    client: Redis,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    try {
      return await client.evalsha(this.#sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) {
        throw error;
      }
      // EVAL runs the script and caches it again for later EVALSHAs.
      return await client.eval(this.#lua, keys.length, ...keys, ...args);
    }
  }
}
