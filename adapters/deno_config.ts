/** @module Deno adapter: reads the config from the environment, or exits with a clear message. */
import { type Config, ConfigError, loadConfig } from "../lib/config.ts";

/**
 * Reads `env` (`Deno.env` by default); on a bad value prints
 * "herald: <reason>" and exits with status 2.
 */
export function loadConfigOrExit(
  env: Record<string, string> = Deno.env.toObject(),
): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    exitWithConfigError(error.message);
  }
}

/** Prints "herald: <message>" on stderr and exits with status 2: one line per config error. */
export function exitWithConfigError(message: string): never {
  // deno-lint-ignore no-console
  console.error(`herald: ${message}`);
  Deno.exit(2);
}

/**
 * The environment as herald reads it: `HOSTNAME` is dropped when it is this
 * machine's own name (Docker, Podman and Kubernetes set it so in every
 * container, and some shells export it), since that names the machine, not
 * a listen address; `HERALD_HOSTNAME` is always honoured.
 */
export function launchEnv(
  env: Record<string, string>,
  machineName: string,
): Record<string, string> {
  if (env.HERALD_HOSTNAME !== undefined || env.HOSTNAME !== machineName) {
    return env;
  }
  const { HOSTNAME: _, ...rest } = env;
  return rest;
}
