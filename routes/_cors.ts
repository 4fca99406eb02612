/**
 * @module CORS: which origins may read herald's responses from a browser.
 * With `*` any page may (no credentials are ever allowed with it); with a
 * list, an origin not on it gets no `Access-Control-Allow-Origin`.
 */

/** Headers a browser may send cross-origin; `Last-Event-ID` is preflighted when long or non-ASCII. */
export const ALLOWED_HEADERS = "Content-Type, Authorization, Last-Event-ID";

/** Response headers a cross-origin page may read besides the safelisted ones. */
export const EXPOSED_HEADERS =
  "Retry-After, Allow, WWW-Authenticate, Link, Mercure-Last-Event-ID, Last-Event-ID";

/**
 * Adds the CORS headers for `origin` to `headers`. With `credentials`, an
 * origin on an explicit list may also send cookies
 * (`Access-Control-Allow-Credentials: true`); never with `*`.
 */
export function applyCors(
  headers: Headers,
  origin: string | null,
  allowed: "*" | readonly string[],
  credentials = false,
): void {
  // A page on another origin may read Retry-After (on 503s) and Allow.
  if (allowed === "*") {
    headers.set("access-control-allow-origin", "*");
    headers.set("access-control-expose-headers", EXPOSED_HEADERS);
    return;
  }
  headers.append("vary", "Origin");
  if (origin !== null && allowed.includes(origin)) {
    headers.set("access-control-allow-origin", origin);
    headers.set("access-control-expose-headers", EXPOSED_HEADERS);
    if (credentials) headers.set("access-control-allow-credentials", "true");
  }
}

/** The answer to a preflight for a route that takes `methods`. */
export function preflight(methods: readonly string[]): Response {
  return new Response(null, {
    status: 204,
    headers: {
      "access-control-allow-methods": [...methods, "OPTIONS"].join(", "),
      "access-control-allow-headers": ALLOWED_HEADERS,
      "access-control-max-age": "600",
      "allow": [...methods, "OPTIONS"].join(", "),
    },
  });
}
