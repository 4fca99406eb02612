/** @module Deno adapter: reads the config from the environment, or exits with a clear message. */
import { type Config, ConfigError, loadConfig } from "../lib/config.ts";

/** Reads `Deno.env`; on a bad value prints "herald: <reason>" and exits with status 2. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig(Deno.env.toObject());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // deno-lint-ignore no-console
    console.error(`herald: ${error.message}`);
    Deno.exit(2);
  }
}
