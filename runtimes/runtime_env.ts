/**
 * @module The environment and config as herald reads them on Bun and Node,
 * through `node:process` and `node:os`: the same rules as
 * `deno task start` (a HOSTNAME equal to the machine's own name is dropped,
 * see launchEnv; a bad value exits 2 with one line).
 */
import process from "node:process";
import { hostname } from "node:os";
import { launchEnv } from "../adapters/deno_config.ts";
import { type Config, ConfigError } from "../lib/config.ts";
import { loadRuntimeConfig } from "./compose.ts";

/** The process's environment, unset entries dropped and launchEnv's HOSTNAME rule applied. */
export function runtimeEnv(): Record<string, string> {
  const defined: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined) defined[name] = value;
  }
  return launchEnv(defined, hostname());
}

/** Prints "herald: <message>" on stderr and exits with status 2. */
export function exitWithConfigError(message: string): never {
  // deno-lint-ignore no-console
  console.error(`herald: ${message}`);
  process.exit(2);
}

/** The config of `env`, or exit 2 naming the bad variable. */
export function runtimeConfigOrExit(env: Record<string, string>): Config {
  try {
    return loadRuntimeConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    exitWithConfigError(error.message);
  }
}
