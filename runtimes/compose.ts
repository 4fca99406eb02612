/**
 * @module The app of one hub instance for a runtime other than Deno: the
 * config from a plain record of environment variables, the memory engine on
 * the bus the entry hands in, the static assets embedded in the bundle, JSON
 * logs. Shared by the Bun, Node and workerd entries; Web-only (no runtime
 * checks: each entry says what its runtime needs through the options).
 */
import { type Config, ConfigError, loadConfig } from "../lib/config.ts";
import type { HorizonBus } from "../engines/memory/engine.ts";
import { createMemoryEngine } from "../engines/memory/engine.ts";
import { LocalBus } from "../lib/bus.ts";
import { consoleLogger } from "../lib/log.ts";
import { type App, createApp } from "../routes/app.ts";
import { readEmbeddedAsset } from "./static_assets.ts";

/** Options for {@linkcode composeRuntimeApp}. */
export interface RuntimeAppOptions {
  /**
   * The bus between hub instances. @default {a LocalBus: one instance}
   * (pass a BroadcastChannelBus where the runtime has BroadcastChannel and
   * runs several workers).
   */
  bus?: HorizonBus;
}

/** The config, or a ConfigError naming the variable; only ENGINE=memory runs here. */
export function loadRuntimeConfig(
  env: Record<string, string | undefined>,
): Config {
  const config = loadConfig(env);
  if (config.engine !== "memory") {
    throw new ConfigError(
      `Cannot use ENGINE=${config.engine} on this runtime: only the memory engine runs outside Deno here`,
    );
  }
  return config;
}

/**
 * Builds the app for `config` and waits until its token key (if any) is
 * imported. Call it where the runtime allows timers and random values (the
 * hub starts its heartbeat and update timers, the bus draws its name).
 */
export async function composeRuntimeApp(
  config: Config,
  options: RuntimeAppOptions = {},
): Promise<App> {
  const engine = createMemoryEngine({
    bus: options.bus ?? new LocalBus(),
    historySize: config.historySize,
    historyMaxBytes: config.historyMaxBytes,
  });
  const app = createApp(config, {
    engine,
    readAsset: readEmbeddedAsset,
    logger: consoleLogger,
  });
  await app.ready;
  return app;
}
