/**
 * @module The workerd entry's bindings: their types, the config variables
 * they carry, and the drain path the local launcher uses. Web-only; kept
 * apart from worker.ts because workerd takes every export of the worker's
 * main module for a handler or a class.
 */

/** A Durable Object namespace binding, as far as the worker uses it. */
export interface DurableObjectNamespace {
  /** The id of the object named `name`. */
  idFromName(name: string): unknown;
  /** A stub that forwards requests to the object. */
  get(id: unknown): { fetch(request: Request): Promise<Response> };
}

/** The worker's bindings: `HUB` and any number of variables. */
export interface WorkerEnv {
  /** The hub object's namespace. */
  readonly HUB: DurableObjectNamespace;
  /** A JSON object of herald's variables (herald.capnp). */
  readonly HERALD_ENV?: string;
  /** The bearer token of {@linkcode DRAIN_PATH} (runtimes/start.ts). */
  readonly HERALD_DRAIN_TOKEN?: string;
  readonly [name: string]: unknown;
}

/** Bindings that carry no config variable. */
const INTERNAL: ReadonlySet<string> = new Set([
  "HERALD_ENV",
  "HERALD_DRAIN_TOKEN",
]);

/**
 * The path runtimes/start.ts posts to on SIGINT/SIGTERM, with
 * `Authorization: Bearer <HERALD_DRAIN_TOKEN>`: workerd itself waits for
 * open requests on SIGTERM and cannot tell the hub, so the launcher asks
 * the hub to drain first. Without the binding (wrangler), it is an
 * ordinary unknown path: 404.
 */
export const DRAIN_PATH = "/.herald/drain";

/** The variables of `env`: HERALD_ENV's entries, then every string binding. */
export function configEnv(env: WorkerEnv): Record<string, string> {
  const vars: Record<string, string> = {};
  if (typeof env.HERALD_ENV === "string" && env.HERALD_ENV !== "") {
    const parsed: unknown = JSON.parse(env.HERALD_ENV);
    if (parsed !== null && typeof parsed === "object") {
      for (const [name, value] of Object.entries(parsed)) {
        if (typeof value === "string") vars[name] = value;
      }
    }
  }
  for (const [name, value] of Object.entries(env)) {
    if (typeof value === "string" && !INTERNAL.has(name)) vars[name] = value;
  }
  return vars;
}
