/**
 * @module Redis Streams as herald's engine when it runs as several
 * processes: {@linkcode connectRedisEngine} opens the connections and returns
 * a {@linkcode Bus} (global order, fan-out, presence) and an
 * {@linkcode EventHistory} (replay shared by every instance). main.ts uses it
 * when REDIS_URL is set; without it herald keeps its embedded default.
 */
import type { Redis } from "ioredis";
import { type Bus, randomInstanceName } from "../../lib/bus.ts";
import {
  checkEngineCount,
  type Engine,
  type EventLog,
} from "../../lib/engine.ts";
import type { EventHistory } from "../../lib/history.ts";
import { type Logger, silentLogger } from "../../lib/log.ts";
import { RedisBus } from "./bus.ts";
import {
  closeRedisConnection,
  openRedisConnection,
  plainRedisReason,
  redactRedisUrl,
} from "./connection.ts";
import { RedisHistory } from "./history.ts";
import { RedisKeys } from "./keys.ts";
import { RedisLog } from "./log_tail.ts";
import { generationToken, type LogState, readLogState } from "./log_state.ts";
import { RedisPresence } from "./presence.ts";

/** Options for {@linkcode connectRedisEngine}. */
export interface RedisEngineOptions {
  /** Events kept per topic for replay (HISTORY_SIZE); 0 keeps none. */
  historySize: number;
  /**
   * This instance's name in presence; unique per instance.
   *
   * @default {randomInstanceName()}
   */
  instance?: string;
  /**
   * Prefix of every key herald writes, so hubs (or tests) can share a Redis.
   *
   * @default {"herald:"}
   */
  keyPrefix?: string;
  /**
   * Events kept (approximately) in the global log, from which an instance that
   * lost Redis for a while catches up. Past it, that process misses events,
   * logs it and tells the hub (`onLoss`, "log-trimmed"), which resets its
   * streams.
   *
   * @default {Math.max(10000, historySize * 10)}
   */
  logSize?: number;
  /**
   * Start-up fails after this long without a ready connection.
   *
   * @default {5000}
   */
  connectTimeoutMs?: number;
  /**
   * A publish or replay without an answer after this long fails (503).
   *
   * @default {3000}
   */
  commandTimeoutMs?: number;
  /**
   * How long one XREAD of the reader waits for new events.
   *
   * @default {5000}
   */
  blockMs?: number;
  /**
   * How often presence is written and read.
   *
   * @default {1000}
   */
  presenceIntervalMs?: number;
  /**
   * How long an instance counts in presence after its last write.
   *
   * @default {5000}
   */
  presenceTtlMs?: number;
  /**
   * Where connection losses, recoveries and lost events are written.
   *
   * @default {silentLogger}
   */
  logger?: Logger;
}

/** A connected engine; `close()` (or `bus.close()`) releases everything. */
export interface RedisEngine extends Engine {
  /** "redis". */
  readonly kind: "redis";
  /** Publishes through Redis and delivers every instance's events. */
  readonly bus: Bus;
  /** Replays from the topic streams in Redis. */
  readonly history: EventHistory;
  /** The global log's tail, for the Mercure hub. */
  readonly log: EventLog;
  /** Stops the reader and presence and closes the connections. */
  close(): Promise<void>;
}

function checkCount(name: string, value: number, min: number): number {
  return checkEngineCount("connect to Redis", { name, value, min });
}

/**
 * Connects to Redis at `url` (redis:// or rediss://, with user, password and
 * database as usual) with two connections: one for publishes, replays and
 * presence, one for the blocking reader.
 *
 * @example Publish through Redis
 * ```ts ignore
 * const engine = await connectRedisEngine("redis://127.0.0.1:6379", { historySize: 1000 });
 * engine.bus.subscribe((event) => console.log(event.id, event.data));
 * await engine.bus.publish({ topic: "chat", event: "chat", data: '"hi"' });
 * await engine.close();
 * ```
 *
 * @throws {Error} "Cannot connect to Redis at <url>: <reason>" when Redis is
 * unreachable or does not answer within `connectTimeoutMs`.
 */
export async function connectRedisEngine(
  url: string,
  options: RedisEngineOptions,
): Promise<RedisEngine> {
  const historySize = checkCount("historySize", options.historySize, 0);
  const instance = options.instance ?? randomInstanceName();
  const keys = new RedisKeys(options.keyPrefix ?? "herald:");
  const logSize = checkCount(
    "logSize",
    options.logSize ?? Math.max(10_000, historySize * 10),
    1,
  );
  const connectTimeoutMs = checkCount(
    "connectTimeoutMs",
    options.connectTimeoutMs ?? 5000,
    1,
  );
  const commandTimeoutMs = checkCount(
    "commandTimeoutMs",
    options.commandTimeoutMs ?? 3000,
    1,
  );
  const blockMs = checkCount("blockMs", options.blockMs ?? 5000, 1);
  const presenceIntervalMs = checkCount(
    "presenceIntervalMs",
    options.presenceIntervalMs ?? 1000,
    1,
  );
  const presenceTtlMs = checkCount(
    "presenceTtlMs",
    options.presenceTtlMs ?? 5000,
    1,
  );
  if (presenceTtlMs <= presenceIntervalMs) {
    throw new RangeError(
      `Cannot connect to Redis: presenceTtlMs (${presenceTtlMs}) must be greater than presenceIntervalMs (${presenceIntervalMs})`,
    );
  }
  const logger = options.logger ?? silentLogger;
  const where = redactRedisUrl(url);

  // One line per change of state, not one per reconnect attempt.
  let lastReported = "";
  let started = false;
  function onError(error: Error): void {
    // Before start-up succeeds, the error that ends it says it all, once.
    if (!started) return;
    const reason = plainRedisReason(error.message);
    if (reason === lastReported) return;
    lastReported = reason;
    logger.log("warn", "Redis engine error", {
      instance,
      redis: where,
      error: reason,
    });
  }
  function onReady(): void {
    if (!started || lastReported === "") return;
    lastReported = "";
    logger.log("info", "Redis connection ready again", {
      instance,
      redis: where,
    });
  }

  const common = { connectTimeoutMs, onError, onReady };
  const writer = await openRedisConnection(url, {
    ...common,
    name: `herald:${instance}:writer`,
    commandTimeoutMs,
  });
  let reader: Redis | null = null;
  let presence: RedisPresence | null = null;
  let start: LogState;
  const token = generationToken();
  try {
    reader = await openRedisConnection(url, {
      ...common,
      name: `herald:${instance}:reader`,
      // A blocking read answers after blockMs at the latest.
      commandTimeoutMs: blockMs + commandTimeoutMs,
    });
    start = await readLogState(writer, keys, token);
    presence = new RedisPresence(writer, keys.presence, {
      instance,
      intervalMs: presenceIntervalMs,
      ttlMs: presenceTtlMs,
      onError,
    });
    await presence.refresh();
  } catch (error) {
    await presence?.close();
    await closeRedisConnection(writer);
    if (reader !== null) await closeRedisConnection(reader);
    if ((error as Error).message.startsWith("Cannot connect to Redis")) {
      throw error;
    }
    throw new Error(
      `Cannot connect to Redis at ${where}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  started = true;
  const bus = new RedisBus(writer, reader, {
    instance,
    keys,
    start,
    token,
    historySize,
    logSize,
    blockMs,
    presence,
    onError,
  });
  const history = new RedisHistory(writer, { keys, size: historySize });
  logger.log("info", "Redis engine connected", { instance, redis: where });
  return {
    kind: "redis",
    bus,
    history,
    log: new RedisLog(writer, keys),
    close: () => bus.close(),
  };
}
