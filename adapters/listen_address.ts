/**
 * @module Deno adapter: turns the configured host and port into the address
 * `deno serve` can take (an IP literal: it rejects names such as
 * `localhost`), and proves it can listen there before the server starts, so
 * a name that does not resolve, an address of another machine and a port in
 * use each end start-up with one line. Deno-only.
 */
import { ConfigError } from "../lib/config.ts";
import { exitWithConfigError } from "./deno_config.ts";

/** Where herald listens: the resolved IP literal, the port, and its URL. */
export interface ListenAddress {
  /** The IP address the host name resolved to (e.g. `127.0.0.1` for `localhost`). */
  readonly address: string;
  /** The port; never 0 (a free one is picked first). */
  readonly port: number;
  /** The base URL, with IPv6 in brackets: `http://127.0.0.1:8000/`. */
  readonly url: string;
  /** The address as `DENO_SERVE_ADDRESS` wants it: `tcp:127.0.0.1:8000`. */
  readonly serveAddress: string;
}

function bracketed(address: string): string {
  return address.includes(":") ? `[${address}]` : address;
}

/**
 * Resolves `hostname` and reserves `port` for a moment: listens, reads the
 * address the system chose, and closes again. The port is free when this
 * returns; a process that takes it before `deno serve` does still fails
 * there, as before.
 *
 * @throws {ConfigError} naming `variable` or PORT: a name that does not
 * resolve, an address that is not this machine's, or a port in use
 */
export function reserveListenAddress(
  hostname: string,
  port: number,
  variable: "HOSTNAME" | "HERALD_HOSTNAME" = "HOSTNAME",
): ListenAddress {
  const shown = `${bracketed(hostname)}:${port}`;
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({ hostname, port });
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new ConfigError(
        `Cannot listen on ${shown} (${variable}, PORT): the port is in use`,
      );
    }
    if (error instanceof Deno.errors.AddrNotAvailable) {
      throw new ConfigError(
        `Cannot listen on ${shown} (${variable}): "${hostname}" is not an address of this machine`,
      );
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new ConfigError(
        `Cannot listen on ${shown} (PORT): permission denied (ports below 1024 need privileges)`,
      );
    }
    throw new ConfigError(
      `Cannot read ${variable}: "${hostname}" does not resolve to an address (${
        (error as Error).message
      })`,
    );
  }
  const addr = listener.addr as Deno.NetAddr;
  listener.close();
  const host = bracketed(addr.hostname);
  return {
    address: addr.hostname,
    port: addr.port,
    url: `http://${host}:${addr.port}/`,
    serveAddress: `tcp:${host}:${addr.port}`,
  };
}

/**
 * {@linkcode reserveListenAddress} for the configured host and port, naming
 * the variable the host came from (`HERALD_HOSTNAME` or `HOSTNAME`); a
 * refusal ends start-up with its one line (exit 2).
 */
export function reserveConfiguredAddress(
  config: { readonly hostname: string; readonly port: number },
  env: Readonly<Record<string, string | undefined>>,
): ListenAddress {
  try {
    return reserveListenAddress(
      config.hostname,
      config.port,
      env.HERALD_HOSTNAME !== undefined ? "HERALD_HOSTNAME" : "HOSTNAME",
    );
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    exitWithConfigError(error.message);
  }
}
