/**
 * @module herald on workerd (Cloudflare Workers): a module worker that
 * forwards every request to one Durable Object, {@linkcode HeraldHub},
 * which holds the hub. Built into one file by runtimes/build.ts
 * (`deno bundle`, static files embedded) and run by `workerd serve
 * runtimes/workerd/herald.capnp` (`deno task start:workerd`), or deployed
 * with runtimes/workerd/wrangler.toml. The only file that knows workerd.
 *
 * Why one object: workerd refuses timers and random values at module scope,
 * and cancels a stream written from another request's context, so the hub
 * (its heartbeat and update timers, its streams) must live in one place that
 * outlives a request: one Durable Object, built on its first request.
 * workerd has no BroadcastChannel: the hub runs on a LocalBus (one
 * instance). Configuration is the worker's string bindings (wrangler
 * `[vars]`), or `HERALD_ENV`, a JSON object of variables (what
 * herald.capnp reads from the environment). Web-only.
 */
import { ConfigError } from "../../lib/config.ts";
import { timingSafeEqual } from "../../lib/timing_safe_equal.ts";
import type { App } from "../../routes/app.ts";
import { composeRuntimeApp, loadRuntimeConfig } from "../compose.ts";
import { configEnv, DRAIN_PATH, type WorkerEnv } from "./worker_env.ts";

/** The Durable Object that holds the hub; the app is built on its first request. */
export class HeraldHub {
  readonly #env: WorkerEnv;
  #app: Promise<App> | null = null;

  /** Keeps the bindings; builds nothing yet (no timers before a request). */
  constructor(_state: unknown, env: WorkerEnv) {
    this.#env = env;
  }

  /** Answers a request with the hub's handler; a bad config answers 500 {error}. */
  async fetch(request: Request): Promise<Response> {
    if (this.#isDrainRequest(request)) {
      // Drains every stream with the retry hint and stops the hub's timers.
      await (await this.#app?.catch(() => null))?.close();
      return new Response(null, { status: 204 });
    }
    this.#app ??= composeRuntimeApp(loadRuntimeConfig(configEnv(this.#env)));
    let app: App;
    try {
      app = await this.#app;
    } catch (error) {
      this.#app = null;
      const message = error instanceof ConfigError || error instanceof Error
        ? error.message
        : String(error);
      return Response.json({ error: message }, { status: 500 });
    }
    return await app.fetch(request);
  }

  #isDrainRequest(request: Request): boolean {
    const token = this.#env.HERALD_DRAIN_TOKEN;
    if (typeof token !== "string" || token === "") return false;
    if (request.method !== "POST") return false;
    if (new URL(request.url).pathname !== DRAIN_PATH) return false;
    return timingSafeEqual(
      request.headers.get("authorization") ?? "",
      `Bearer ${token}`,
    );
  }
}

/** The module worker: every request goes to the one hub object. */
export default {
  fetch(request: Request, env: WorkerEnv): Promise<Response> {
    return env.HUB.get(env.HUB.idFromName("herald")).fetch(request);
  },
};
