/**
 * @module The one place that writes to the console. Lines are JSON, one per
 * event, so they can be grepped and shipped. Never log a token or a message
 * body. Web-only.
 */

/** Log levels, least to most severe. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** A structured logger; `fields` must never hold secrets. */
export interface Logger {
  /** Writes one line at `level`. */
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
}

/** Writes JSON lines to the console (stderr for warn and error). */
export const consoleLogger: Logger = {
  log(level, message, fields) {
    const line = JSON.stringify({
      level,
      message,
      ...fields,
      time: new Date().toISOString(),
    });
    // deno-lint-ignore no-console
    if (level === "warn" || level === "error") console.error(line);
    // deno-lint-ignore no-console
    else console.log(line);
  },
};

/** Drops every line; for tests. */
export const silentLogger: Logger = {
  log() {},
};
