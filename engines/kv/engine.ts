/**
 * @module Deno KV as herald's engine: on Deno Deploy the platform's database
 * that all instances share (`Deno.openKv()` with no path), locally an
 * embedded SQLite file (`KV_PATH=./herald.kv`) that keeps history across
 * restarts and that several processes can share. {@linkcode openKvEngine}
 * returns the {@linkcode Engine}: a {@linkcode KvBus} (one atomic write per
 * publish, a follower per instance), a {@linkcode KvHistory} (replay from
 * the database), presence with expiry and a trimmer for retention.
 *
 * Limits, told plainly: one value is at most 64 KiB (so messages are capped
 * at {@linkcode KV_MAX_MESSAGE_BYTES}), one atomic write at most 1,000
 * mutations (a publish makes 9, a trim at most 506); a local file took
 * about 700–1,600 events/s from one publisher on a shared 2-core machine
 * (BENCHMARKS.md); on Deploy every write goes to the primary region.
 */
import { randomInstanceName } from "../../lib/bus.ts";
import {
  checkEngineCount,
  type Engine,
  type EventLog,
} from "../../lib/engine.ts";
import { type Logger, silentLogger } from "../../lib/log.ts";
import { KvBus } from "./bus.ts";
import { KvHistory } from "./history.ts";
import { KvKeys, stampOf } from "./keys.ts";
import { KvLog } from "./log_tail.ts";
import { KvPresence } from "./presence.ts";
import { KvTrimmer } from "./trimmer.ts";

/**
 * The largest POST body the kv engine takes: escaping may make the stored
 * data up to 6 times the message (`<` becomes `\u003c`), and the stored
 * event must stay under Deno KV's 64 KiB value limit.
 */
export const KV_MAX_MESSAGE_BYTES = 10240;

/** Options for {@linkcode openKvEngine}. */
export interface KvEngineOptions {
  /** The database file; null opens the platform's (Deno Deploy). @default {null} */
  path?: string | null;
  /** Events kept per topic for replay (HISTORY_SIZE); 0 keeps none. @default {1000} */
  historySize?: number;
  /**
   * Bytes all topics' stored events may hold (HISTORY_MAX_BYTES, counted as
   * the memory history counts them); past it the topic published to least
   * recently is removed first. The global log is held within it too.
   * @default {67108864}
   */
  historyMaxBytes?: number;
  /** Events older than this many ms are trimmed too; 0: by count alone. @default {0} */
  historyMaxAgeMs?: number;
  /** Events kept in the global log the followers read. @default {Math.max(10000, historySize * 10)} */
  logSize?: number;
  /** The longest a follower waits between two reads of the log. @default {20} */
  pollMs?: number;
  /** How often retention runs. @default {2000} */
  trimIntervalMs?: number;
  /** How often presence is written and read. @default {1000} */
  presenceIntervalMs?: number;
  /** How long an instance counts in presence after its last write. @default {5000} */
  presenceTtlMs?: number;
  /** Prefix of every key, so hubs (or tests) can share a database. @default {["herald"]} */
  keyPrefix?: readonly string[];
  /** This instance's name. @default {randomInstanceName()} */
  instance?: string;
  /** Where failures are written. @default {silentLogger} */
  logger?: Logger;
  /** The wall clock in ms (publish times, retention by age). @default {Date.now} */
  now?: () => number;
}

/** A running kv engine. */
export interface KvEngine extends Engine {
  /** "kv". */
  readonly kind: "kv";
  /** The global log's tail, for the Mercure hub. */
  readonly log: EventLog;
  /** Runs one retention round now (tests; it also runs on a timer). */
  trim(): Promise<void>;
}

function checkCount(name: string, value: number, min: number): number {
  return checkEngineCount("open Deno KV", { name, value, min });
}

/**
 * Opens the database and starts the follower after the newest event in it,
 * presence, and retention.
 *
 * @example A local file
 * ```ts ignore
 * const engine = await openKvEngine({ path: "./herald.kv" });
 * engine.bus.subscribe((event) => console.log(event.id, event.data));
 * await engine.bus.publish({ topic: "chat", event: "chat", data: '"hi"' });
 * await engine.close();
 * ```
 *
 * @throws {Error} "Cannot open Deno KV at <path>: <reason>"
 */
export async function openKvEngine(
  options: KvEngineOptions = {},
): Promise<KvEngine> {
  const historySize = checkCount("historySize", options.historySize ?? 1000, 0);
  const logSize = checkCount(
    "logSize",
    options.logSize ?? Math.max(10_000, historySize * 10),
    1,
  );
  const pollMs = checkCount("pollMs", options.pollMs ?? 20, 1);
  const presenceIntervalMs = checkCount(
    "presenceIntervalMs",
    options.presenceIntervalMs ?? 1000,
    1,
  );
  const presenceTtlMs = checkCount(
    "presenceTtlMs",
    options.presenceTtlMs ?? 5000,
    presenceIntervalMs + 1,
  );
  const path = options.path ?? null;
  const logger = options.logger ?? silentLogger;
  const instance = options.instance ?? randomInstanceName();
  const keys = new KvKeys(options.keyPrefix);
  // Presence and retention write on a second connection: one connection
  // runs its operations one at a time, and a write can wait a long while for
  // the file's lock while another process publishes, which held the
  // follower's reads up behind it (BENCHMARKS.md).
  const connections: Deno.Kv[] = [];
  let start = "";
  try {
    for (let i = 0; i < 2; i++) {
      connections.push(
        await (path === null ? Deno.openKv() : Deno.openKv(path)),
      );
    }
    for await (
      const entry of connections[0]!.list({ prefix: keys.log }, {
        reverse: true,
        limit: 1,
      })
    ) {
      start = stampOf(entry.key);
    }
  } catch (error) {
    for (const connection of connections) connection.close();
    throw new Error(
      `Cannot open Deno KV at ${path ?? "the platform database"}: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
  const [kv, side] = connections as [Deno.Kv, Deno.Kv];
  const onError = (error: Error) =>
    logger.log("warn", "Deno KV presence failed", {
      instance,
      error: error.message,
    });
  const presence = new KvPresence(side, keys, {
    instance,
    intervalMs: presenceIntervalMs,
    ttlMs: presenceTtlMs,
    onError,
  });
  await presence.refresh();
  const now = options.now ?? Date.now;
  const bus = new KvBus(kv, {
    instance,
    keys,
    pollMs,
    presence,
    start,
    logger,
    now,
  });
  const trimmer = new KvTrimmer(side, keys, {
    size: historySize,
    logSize,
    maxAgeMs: checkCount("historyMaxAgeMs", options.historyMaxAgeMs ?? 0, 0),
    maxBytes: checkCount(
      "historyMaxBytes",
      options.historyMaxBytes ?? 64 * 1024 * 1024,
      0,
    ),
    intervalMs: checkCount("trimIntervalMs", options.trimIntervalMs ?? 2000, 1),
    logger,
    now,
  });
  const history = new KvHistory(kv, keys);
  logger.log("info", "Deno KV engine opened", {
    instance,
    kv: path ?? "platform",
    maxMessageBytes: KV_MAX_MESSAGE_BYTES,
  });
  let closing: Promise<void> | null = null;
  return {
    kind: "kv",
    bus,
    history,
    log: new KvLog(kv, keys),
    trim: () => trimmer.trim(),
    close() {
      closing ??= (async () => {
        await trimmer.close();
        await bus.close();
        kv.close();
        side.close();
      })();
      return closing;
    },
  };
}
