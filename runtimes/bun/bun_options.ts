/**
 * @module Bun's own variables, read the same way by the launcher (before it
 * installs and bundles anything) and by the entry.
 */
import { ConfigError, readInteger } from "../../lib/config.ts";

/** How `Bun.serve` runs. */
export interface BunOptions {
  /** Seconds before Bun closes an idle connection other than an event stream (`BUN_IDLE_TIMEOUT_S`). */
  readonly idleTimeout: number;
  /** Workers sharing the port (`BUN_WORKERS`). */
  readonly workers: number;
}

/**
 * Reads `BUN_IDLE_TIMEOUT_S` and `BUN_WORKERS`; `port` is the configured one.
 *
 * @throws {ConfigError} naming the variable, or for workers on PORT=0
 */
export function readBunOptions(
  env: Readonly<Record<string, string | undefined>>,
  port: number,
): BunOptions {
  const idleTimeout = readInteger(env, "BUN_IDLE_TIMEOUT_S", 10, 0, 255);
  const workers = readInteger(env, "BUN_WORKERS", 1, 1, 256);
  if (workers > 1 && port === 0) {
    throw new ConfigError(
      "Cannot use BUN_WORKERS with PORT=0: the workers must share one port",
    );
  }
  return { idleTimeout, workers };
}
