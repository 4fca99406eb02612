/**
 * @module The one line herald prints at start: its version, URL and the
 * effective configuration that an operator checks first (engine, auth,
 * history, limits, origins). Never a secret: tokens show as "on", a Redis
 * URL without its user and password. Web-only.
 */
import type { Config } from "./config.ts";

/** What the line says besides the config. */
export interface StartupFacts {
  /** herald's version. */
  readonly version: string;
  /** The URL herald serves on. */
  readonly url: string;
  /** Isolates: a number, or "cores" under `start:parallel` without DENO_JOBS. */
  readonly isolates: number | string;
  /** The HTTP server: "deno serve" or "node:http". */
  readonly server: string;
}

function redisWhere(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return "redis";
  }
}

/**
 * The start-up line, e.g. `herald 0.2.0 serving http://127.0.0.1:8000/ (deno
 * serve, 1 isolate): engine memory, publish open, history 1000 events per
 * topic ...`.
 */
export function startupLine(config: Config, facts: StartupFacts): string {
  const engine = config.redisUrl === null
    ? "memory"
    : `redis ${redisWhere(config.redisUrl)}`;
  const origins = config.allowedOrigins === "*"
    ? "*"
    : config.allowedOrigins.join(",");
  const isolates = facts.isolates === 1
    ? "1 isolate"
    : `${facts.isolates} isolates`;
  return [
    `herald ${facts.version} serving ${facts.url} (${facts.server}, ${isolates}):`,
    `engine ${engine},`,
    `publish ${config.publishToken === null ? "open" : "token"},`,
    `history ${config.historySize} events per topic, ${config.historyMaxBytes} bytes in all,`,
    `limits ${config.maxClients} streams per isolate, ${config.maxTopicsPerStream} topics per stream, ${config.maxMessageBytes} bytes per message, ${config.maxQueuedBytes} bytes queued per stream,`,
    `origins ${origins}`,
  ].join(" ");
}
