/**
 * @module The whole app for one isolate: a hub on the given engine, and the
 * fetch handler in front of it. Web-only; main.ts picks the adapters.
 */
import {
  createTokenVerifier,
  type TokenVerifier,
} from "../lib/auth/token_verifier.ts";
import type { Config } from "../lib/config.ts";
import type { Engine } from "../lib/engine.ts";
import { Hub } from "../lib/hub.ts";
import { type Logger, silentLogger } from "../lib/log.ts";
import { MercureHub } from "../lib/mercure/mercure_hub.ts";
import type { ReadAsset } from "./_types.ts";
import { createHandler } from "./router.ts";

/** The ports an app runs on. */
export interface AppDeps {
  /** Carries events between hub instances and keeps them for replay. */
  engine: Engine;
  /** Reads static assets. */
  readAsset: ReadAsset;
  /** Where the app logs. @default {silentLogger} */
  logger?: Logger;
  /** Verifies tokens. @default {one made from config.auth, or null when no key is set} */
  verifier?: TokenVerifier | null;
  /** Verifies publishers' tokens. @default {one made from config.publisherAuth, else `verifier`} */
  publisherVerifier?: TokenVerifier | null;
}

/** A running app: its handler, its hub, and how to stop both. */
export interface App {
  /** The fetch handler. */
  readonly fetch: (request: Request) => Promise<Response>;
  /** The hub behind it. */
  readonly hub: Hub;
  /** Ends every stream with a last event carrying `retry:`, so clients reconnect and replay. */
  drain(retryMs?: number): void;
  /** Drains, then stops the hub's timers and closes the engine. */
  close(): Promise<void>;
  /** Resolves once the token key is imported; rejects when it cannot be (start-up exits 2). */
  readonly ready: Promise<void>;
}

/** Builds the app of one isolate from its config and ports. */
export function createApp(config: Config, deps: AppDeps): App {
  const logger = deps.logger ?? silentLogger;
  const hub = new Hub(deps.engine.bus, deps.engine.history, {
    heartbeatMs: config.heartbeatMs,
    updateIntervalMs: config.updateIntervalMs,
    retryMs: config.retryMs,
    maxClients: config.maxClients,
    maxQueuedBytes: config.maxQueuedBytes,
    logger,
  });
  const mercure = new MercureHub(deps.engine.bus, {
    heartbeatMs: config.heartbeatMs,
    maxQueuedBytes: config.maxQueuedBytes,
    maxClients: config.maxClients,
    otherStreams: () => hub.ownStreams,
    onStreams: (count) => hub.countMercureStreams(count),
    historySize: config.historySize,
    historyMaxBytes: config.historyMaxBytes,
    logger,
    subscriptions: config.mercure.subscriptions,
    ...(deps.engine.log === undefined ? {} : { log: deps.engine.log }),
  });
  const verifier = deps.verifier !== undefined
    ? deps.verifier
    : config.auth.keys === null
    ? null
    : createTokenVerifier(config.auth);
  const publisherVerifier = deps.publisherVerifier !== undefined
    ? deps.publisherVerifier
    : config.publisherAuth === null
    ? null
    : createTokenVerifier(config.publisherAuth);
  const ready = Promise.all([verifier?.ready, publisherVerifier?.ready]).then(
    () => {},
  );
  // Start-up awaits it; an app that is never awaited must not crash on it.
  ready.catch(() => {});
  const fetch = createHandler(config, {
    hub,
    readAsset: deps.readAsset,
    logger,
    verifier,
    publisherVerifier,
    mercure,
  });
  return {
    fetch,
    hub,
    drain: (retryMs) => {
      hub.drain(retryMs);
      mercure.drain();
    },
    ready,
    async close() {
      await hub.close();
      mercure.close();
      await deps.engine.close();
    },
  };
}
