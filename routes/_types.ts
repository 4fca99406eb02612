/** @module The types every route file shares: its context and its method table. */
import type { TokenVerifier } from "../lib/auth/token_verifier.ts";
import type { Config } from "../lib/config.ts";
import type { Hub } from "../lib/hub.ts";
import type { Logger } from "../lib/log.ts";
import type { PublishCounts } from "../lib/metrics.ts";
import type { MercureHub } from "../lib/mercure/mercure_hub.ts";

/** Reads a file of the static folder by safe relative path; null when missing. */
export type ReadAsset = (path: string) => Promise<Uint8Array | null>;

/** What a route handler gets besides the request. */
export interface RouteContext {
  /** The request being answered. */
  readonly request: Request;
  /** The request's parsed URL. */
  readonly url: URL;
  /** The frozen configuration. */
  readonly config: Config;
  /** The hub of this isolate. */
  readonly hub: Hub;
  /** The static asset reader (an injected port). */
  readonly readAsset: ReadAsset;
  /** Where routes log. */
  readonly logger: Logger;
  /** Verifies tokens; null or absent when no key is configured. */
  readonly verifier?: TokenVerifier | null;
  /** Verifies publishers' tokens when they have their own key; null or absent: `verifier` does. */
  readonly publisherVerifier?: TokenVerifier | null;
  /** POST /message answers by status, for `GET /metrics`. */
  readonly publishes?: PublishCounts;
  /** The Mercure streams of this isolate; null or absent: `/.well-known/mercure` is off. */
  readonly mercure?: MercureHub | null;
}

/** Answers one method of one route. */
export type RouteHandler = (
  context: RouteContext,
) => Response | Promise<Response>;

/** A route file's export: its handlers by HTTP method. */
export type MethodTable = Readonly<
  Partial<Record<"GET" | "POST", RouteHandler>>
>;
