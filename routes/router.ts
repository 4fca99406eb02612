/**
 * @module The router: maps paths to route method tables, and answers for all
 * routes alike 404, 405 with `Allow`, HEAD (from GET), OPTIONS preflights and
 * CORS headers. Uses only Web-standard APIs, so it runs on any edge runtime.
 */
import type { Config } from "../lib/config.ts";
import type { TokenVerifier } from "../lib/auth/token_verifier.ts";
import type { Hub } from "../lib/hub.ts";
import type { MercureHub } from "../lib/mercure/mercure_hub.ts";
import { type Logger, silentLogger } from "../lib/log.ts";
import { applyCors, preflight } from "./_cors.ts";
import { jsonError } from "./_responses.ts";
import type { MethodTable, ReadAsset, RouteContext } from "./_types.ts";
import { indexHandlers, staticHandlers } from "./client.ts";
import { handlers as eventsHandlers } from "./events.ts";
import { healthzHandlers, readyzHandlers } from "./healthz.ts";
import { handlers as messageHandlers } from "./message.ts";
import { handlers as metricsHandlers } from "./metrics.ts";
import {
  handlers as mercureHandlers,
  MERCURE_PATH,
  subscriptionsHandlers,
} from "./mercure.ts";
import { MERCURE_METADATA_PATH, metadataHandlers } from "./mercure_metadata.ts";
import { handlers as statsHandlers } from "./stats.ts";

/** What the handler needs from outside: the hub and the ports. */
export interface HandlerDeps {
  /** The hub of this isolate. */
  hub: Hub;
  /** Reads static assets (Deno's adapter reads `static/`). */
  readAsset: ReadAsset;
  /** Where errors are logged. @default {silentLogger} */
  logger?: Logger;
  /** Verifies tokens (lib/auth/); null when no key is configured. @default {null} */
  verifier?: TokenVerifier | null;
  /** Verifies publishers' tokens when they have their own key; null: `verifier` does. @default {null} */
  publisherVerifier?: TokenVerifier | null;
  /** The Mercure streams; null: `/.well-known/mercure` answers 404. @default {null} */
  mercure?: MercureHub | null;
}

const ROUTES: ReadonlyMap<string, MethodTable> = new Map([
  ["/", indexHandlers],
  ["/events", eventsHandlers],
  ["/message", messageHandlers],
  ["/stats", statsHandlers],
  ["/healthz", healthzHandlers],
  ["/readyz", readyzHandlers],
  ["/metrics", metricsHandlers],
  [MERCURE_PATH, mercureHandlers],
  [MERCURE_METADATA_PATH, metadataHandlers],
]);

function find(pathname: string): MethodTable | undefined {
  return ROUTES.get(pathname) ??
    (pathname.startsWith("/static/")
      ? staticHandlers
      : pathname.startsWith(`${MERCURE_PATH}/subscriptions`)
      ? subscriptionsHandlers
      : undefined);
}

function allowedMethods(table: MethodTable): string[] {
  const methods = Object.keys(table);
  if (table.GET !== undefined) methods.push("HEAD");
  return methods;
}

async function route(context: RouteContext): Promise<Response> {
  const { request, url } = context;
  const table = find(url.pathname);
  if (table === undefined) return jsonError(404, `Not found: ${url.pathname}`);
  const method = request.method.toUpperCase();
  if (method === "OPTIONS") return preflight(allowedMethods(table));
  const handler = method === "HEAD"
    ? table.GET
    : table[method as keyof MethodTable];
  if (handler === undefined) {
    await request.body?.cancel();
    const allow = [...allowedMethods(table), "OPTIONS"].join(", ");
    return jsonError(
      405,
      `Cannot ${method} ${url.pathname}: allowed methods are ${allow}`,
      {
        allow,
      },
    );
  }
  const response = await handler(context);
  if (method !== "HEAD") return response;
  await response.body?.cancel();
  return new Response(null, {
    status: response.status,
    headers: response.headers,
  });
}

/**
 * Makes herald's fetch handler: `(Request) => Promise<Response>`, the same
 * under `Deno.serve`, `deno serve` and any runtime with Web-standard APIs.
 */
export function createHandler(
  config: Config,
  deps: HandlerDeps,
): (request: Request) => Promise<Response> {
  const logger = deps.logger ?? silentLogger;
  const publishes = deps.hub.publishes;
  return async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    let response: Response;
    try {
      response = await route({
        request,
        url,
        config,
        hub: deps.hub,
        readAsset: deps.readAsset,
        logger,
        verifier: deps.verifier ?? null,
        publisherVerifier: deps.publisherVerifier ?? null,
        publishes,
        mercure: deps.mercure ?? null,
      });
    } catch (error) {
      logger.log("error", "Cannot answer request", {
        method: request.method,
        path: url.pathname,
        error: error instanceof Error ? error.message : String(error),
      });
      response = jsonError(500, "Internal error");
    }
    if (url.pathname === "/message" && request.method === "POST") {
      publishes.count(response.status);
    }
    applyCors(
      response.headers,
      request.headers.get("origin"),
      config.allowedOrigins,
      // Cookies cross-origin only to listed origins, and only when tokens are on.
      config.auth.keys !== null,
    );
    const discovery = config.mercure.discoveryUrl;
    if (discovery !== null) {
      response.headers.append("link", `<${discovery}>; rel="mercure"`);
    }
    return response;
  };
}
