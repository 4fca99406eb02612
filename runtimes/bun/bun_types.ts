/**
 * @module The part of Bun's API the Bun entry uses, typed here so that
 * `deno check` needs no `bun-types` package.
 */

/** The server `Bun.serve` returns. */
export interface BunServer {
  /** The port it listens on. */
  readonly port: number;
  /** The address it listens on. */
  readonly hostname: string;
  /** Sets the idle timeout of the request's connection in seconds; 0 disables it. */
  timeout(request: Request, seconds: number): void;
  /** Stops listening; with `true`, also closes every connection now. */
  stop(closeActiveConnections?: boolean): Promise<void>;
}

/** What `Bun.serve` takes. */
export interface BunServeOptions {
  /** The port; 0 picks a free one. */
  port: number;
  /** The address. */
  hostname: string;
  /** Seconds a connection may stay idle (Bun: 10 by default, at most 255; 0: never). */
  idleTimeout: number;
  /** Lets several workers listen on one port (SO_REUSEPORT). */
  reusePort?: boolean;
  /** Answers a request. */
  fetch(request: Request, server: BunServer): Response | Promise<Response>;
}

/** The `Bun` global, as far as herald uses it. */
export interface BunGlobal {
  /** Starts an HTTP server. */
  serve(options: BunServeOptions): BunServer;
  /** The running Bun's version. */
  readonly version: string;
}

/** The `Bun` global of the running process. */
export function bunGlobal(): BunGlobal {
  const bun = (globalThis as { Bun?: BunGlobal }).Bun;
  if (bun === undefined) {
    throw new Error("Cannot start the Bun entry: this is not Bun");
  }
  return bun;
}
