/**
 * @module Configuration: reads a plain record of environment strings into a
 * typed, frozen {@linkcode Config}. Pure: it never touches `Deno.env`, so it
 * runs anywhere and its tests need no permissions. Web-only.
 */

import type { AuthConfig } from "./auth/auth_config.ts";
import {
  type MercureConfig,
  readMercureConfig,
  readTokenSettings,
  type TokenSettings,
} from "./mercure/mercure_config.ts";

/** herald's settings, with the defaults of the HTTP contract. */
export interface Config {
  /** Listen port (`PORT`); 0 picks a free one. */
  readonly port: number;
  /** Listen address or host name (`HERALD_HOSTNAME`, else `HOSTNAME`). */
  readonly hostname: string;
  /** Period of the `update` event in ms (`UPDATE_INTERVAL_MS`); 0 disables. */
  readonly updateIntervalMs: number;
  /** Period of keep-alive comments in ms (`HEARTBEAT_MS`); 0 disables. */
  readonly heartbeatMs: number;
  /** The `retry:` sent when a stream opens, in ms (`RETRY_MS`). */
  readonly retryMs: number;
  /** Events kept per topic for replay (`HISTORY_SIZE`); 0 keeps none. */
  readonly historySize: number;
  /** Bytes the replay history may hold in all (`HISTORY_MAX_BYTES`). */
  readonly historyMaxBytes: number;
  /** Bearer token that POST /message needs (`PUBLISH_TOKEN`); null: anyone may publish. */
  readonly publishToken: string | null;
  /** CORS allow-list (`ALLOWED_ORIGINS`): "*" or exact origins. */
  readonly allowedOrigins: "*" | readonly string[];
  /** Largest accepted POST body in bytes (`MAX_MESSAGE_BYTES`). */
  readonly maxMessageBytes: number;
  /** Streams one isolate holds before it answers 503 (`MAX_CLIENTS`). */
  readonly maxClients: number;
  /** Topics one stream may follow (`MAX_TOPICS_PER_STREAM`). */
  readonly maxTopicsPerStream: number;
  /** Bytes queued for one slow stream before it is cut off (`MAX_QUEUED_BYTES`). */
  readonly maxQueuedBytes: number;
  /** Redis URL of the distributed engine (`REDIS_URL`); null: in memory. */
  readonly redisUrl: string | null;
  /**
   * Where events travel and stay (`ENGINE`: memory, redis or kv). Defaults
   * to redis when `REDIS_URL` is set, kv when `KV_PATH` is, else memory.
   */
  readonly engine: "memory" | "redis" | "kv";
  /**
   * The Deno KV file of the kv engine (`KV_PATH`); null with `ENGINE=kv`
   * opens the platform's database (Deno Deploy).
   */
  readonly kvPath: string | null;
  /** The kv engine also trims events older than this (`HISTORY_MAX_AGE_MS`); 0: by count alone. */
  readonly historyMaxAgeMs: number;
  /** Signed-token settings (`JWT_*`, `JWKS_URL`, `SUBSCRIBE_AUTH`, `AUTH_*`); see lib/auth/. */
  readonly auth: AuthConfig;
  /**
   * Publishers' own key when `MERCURE_PUBLISHER_JWT_KEY` and
   * `MERCURE_SUBSCRIBER_JWT_KEY` differ; null: `auth` verifies publishers too.
   */
  readonly publisherAuth: AuthConfig | null;
  /** Bearer token that GET /metrics needs (`METRICS_TOKEN`); null: open. */
  readonly metricsToken: string | null;
  /** The Mercure endpoint's settings (`MERCURE_*`); see lib/mercure/. */
  readonly mercure: MercureConfig;
}

/** Raised by {@linkcode loadConfig} for a value it cannot use; names the variable. */
export class ConfigError extends Error {
  /** Makes the error; `message` says which variable and why. */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads the integer variable `name` (trimmed), `fallback` when unset.
 *
 * @throws {ConfigError} "Cannot read <name>: …" when it is not an integer from `min` to `max`
 */
export function readInteger(
  env: Env,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = env[name];
  if (raw === undefined) return fallback;
  const text = raw.trim();
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new ConfigError(
      `Cannot read ${name}: "${raw}" is not a non-negative integer`,
    );
  }
  const value = Number(text);
  if (value < min || value > max) {
    throw new ConfigError(
      `Cannot read ${name}: ${value} is not between ${min} and ${max}`,
    );
  }
  return value;
}

function readPort(env: Env): number {
  const raw = env.PORT;
  if (raw === undefined) return 8000;
  const text = raw.trim();
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw new ConfigError(`Cannot read PORT: "${raw}" is not a port number`);
  }
  return Number(text);
}

function readHostname(env: Env): string {
  // HERALD_HOSTNAME wins: container runtimes set HOSTNAME to the machine's name.
  const name = env.HERALD_HOSTNAME !== undefined
    ? "HERALD_HOSTNAME"
    : "HOSTNAME";
  const raw = env[name];
  if (raw === undefined) return "0.0.0.0";
  const text = raw.trim();
  if (!/^[A-Za-z0-9.:[\]-]{1,253}$/.test(text)) {
    throw new ConfigError(
      `Cannot read ${name}: "${raw}" is not a host name or address`,
    );
  }
  return text;
}

function readMetricsToken(env: Env): string | null {
  const raw = env.METRICS_TOKEN;
  if (raw === undefined) return null;
  if (!/^[\x21-\x7e]+$/.test(raw)) {
    throw new ConfigError(
      "Cannot read METRICS_TOKEN: it must be visible ASCII with no spaces",
    );
  }
  return raw;
}

function readToken(env: Env): string | null {
  const raw = env.PUBLISH_TOKEN;
  if (raw === undefined) return null;
  if (raw === "") {
    throw new ConfigError(
      "Cannot read PUBLISH_TOKEN: it is empty; unset it to let anyone publish",
    );
  }
  // A token travels in a header: visible ASCII only, no spaces.
  if (!/^[\x21-\x7e]+$/.test(raw)) {
    throw new ConfigError(
      "Cannot read PUBLISH_TOKEN: it must be visible ASCII with no spaces",
    );
  }
  return raw;
}

function readOrigins(env: Env): "*" | readonly string[] {
  const raw = env.ALLOWED_ORIGINS;
  if (raw === undefined || raw.trim() === "*") return "*";
  const origins: string[] = [];
  for (const part of raw.split(",")) {
    const text = part.trim();
    let origin: string | null = null;
    try {
      const url = new URL(text);
      const plain = (url.protocol === "http:" || url.protocol === "https:") &&
        url.username === "" && url.password === "" &&
        (url.pathname === "/" || url.pathname === "") && url.search === "" &&
        url.hash === "" && !text.endsWith("/");
      if (plain) origin = url.origin;
    } catch {
      origin = null;
    }
    if (origin === null) {
      throw new ConfigError(
        `Cannot read ALLOWED_ORIGINS: "${text}" is not an origin like https://example.com`,
      );
    }
    origins.push(origin);
  }
  return Object.freeze(origins);
}

function readRedisUrl(env: Env): string | null {
  const raw = env.REDIS_URL;
  if (raw === undefined || raw === "") return null;
  let ok = false;
  try {
    const url = new URL(raw);
    ok = url.protocol === "redis:" || url.protocol === "rediss:";
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new ConfigError(
      "Cannot read REDIS_URL: it is not a redis:// or rediss:// URL",
    );
  }
  return raw;
}

function readAuth(env: Env): TokenSettings {
  try {
    return readTokenSettings(env);
  } catch (error) {
    if (
      error instanceof Error &&
      (error.name === "AuthConfigError" || error.name === "MercureConfigError")
    ) {
      throw new ConfigError(error.message);
    }
    throw error;
  }
}

function readMercure(env: Env): MercureConfig {
  try {
    return readMercureConfig(env);
  } catch (error) {
    if (error instanceof Error && error.name === "MercureConfigError") {
      throw new ConfigError(error.message);
    }
    throw error;
  }
}

const DAY_MS = 86_400_000;

const ENGINES = ["memory", "redis", "kv"] as const;

function readEngine(
  env: Env,
  redisUrl: string | null,
  kvPath: string | null,
): Config["engine"] {
  const raw = env.ENGINE?.trim();
  if (raw === undefined || raw === "") {
    if (redisUrl !== null && kvPath !== null) {
      throw new ConfigError(
        "Cannot read REDIS_URL and KV_PATH: set one engine, not both",
      );
    }
    return redisUrl !== null ? "redis" : kvPath !== null ? "kv" : "memory";
  }
  const engine = ENGINES.find((name) => name === raw);
  if (engine === undefined) {
    throw new ConfigError(
      `Cannot read ENGINE: "${raw}" is not one of memory, redis, kv`,
    );
  }
  if (engine === "redis" && redisUrl === null) {
    throw new ConfigError("Cannot read ENGINE: redis needs REDIS_URL");
  }
  return engine;
}

/**
 * Reads herald's settings from environment strings.
 *
 * @example Defaults and one override
 * ```ts
 * import { loadConfig } from "./config.ts";
 * const config = loadConfig({ PORT: "9000" });
 * if (config.port !== 9000 || config.historySize !== 1000) throw new Error();
 * ```
 *
 * @throws {ConfigError} naming the variable and the value it cannot use
 */
export function loadConfig(env: Env): Config {
  const redisUrl = readRedisUrl(env);
  const kvPath = env.KV_PATH === undefined || env.KV_PATH === ""
    ? null
    : env.KV_PATH;
  return Object.freeze({
    port: readPort(env),
    hostname: readHostname(env),
    updateIntervalMs: readInteger(env, "UPDATE_INTERVAL_MS", 3000, 0, DAY_MS),
    heartbeatMs: readInteger(env, "HEARTBEAT_MS", 15000, 0, DAY_MS),
    retryMs: readInteger(env, "RETRY_MS", 5000, 0, DAY_MS),
    historySize: readInteger(env, "HISTORY_SIZE", 1000, 0, 1_000_000),
    historyMaxBytes: readInteger(
      env,
      "HISTORY_MAX_BYTES",
      64 * 1024 * 1024,
      0,
      2 ** 40,
    ),
    publishToken: readToken(env),
    allowedOrigins: readOrigins(env),
    maxMessageBytes: readInteger(
      env,
      "MAX_MESSAGE_BYTES",
      65536,
      1,
      16 * 1024 * 1024,
    ),
    maxClients: readInteger(env, "MAX_CLIENTS", 10000, 1, 10_000_000),
    maxTopicsPerStream: readInteger(env, "MAX_TOPICS_PER_STREAM", 16, 1, 1024),
    maxQueuedBytes: readInteger(
      env,
      "MAX_QUEUED_BYTES",
      256 * 1024,
      1024,
      2 ** 30,
    ),
    redisUrl,
    engine: readEngine(env, redisUrl, kvPath),
    kvPath,
    historyMaxAgeMs: readInteger(env, "HISTORY_MAX_AGE_MS", 0, 0, 365 * DAY_MS),
    ...readAuth(env),
    metricsToken: readMetricsToken(env),
    mercure: readMercure(env),
  });
}
