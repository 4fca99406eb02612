/**
 * @module Where a request's token comes from, and what it allows: a
 * subscriber's token from `Authorization: Bearer` (which wins), the cookie
 * named by `AUTH_COOKIE`, or `?authorization=` when `AUTH_QUERY` is on; a
 * publisher's from the header only (a cookie would let any page publish in
 * its visitor's name). Verified once per request, never per event. Web-only.
 */
import type { AuthConfig } from "../lib/auth/auth_config.ts";
import type { Grants } from "../lib/auth/grants.ts";
import { TokenError, type TokenVerifier } from "../lib/auth/token_verifier.ts";
import { jsonError } from "./_responses.ts";

/** Where a token was found. */
export type TokenPlace = "header" | "cookie" | "query";

/** The `WWW-Authenticate` challenge of every 401 herald answers. */
const CHALLENGE = { "www-authenticate": 'Bearer realm="herald"' } as const;

/** The bearer token of the `Authorization` header; "" when it is there but not a bearer token. */
export function bearerToken(request: Request): string | null {
  const header = request.headers.get("authorization");
  if (header === null) return null;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? "";
}

/** The value of cookie `name` in the request's `Cookie` header, if any. */
export function cookieValue(request: Request, name: string): string | null {
  const header = request.headers.get("cookie");
  if (header === null) return null;
  for (const part of header.split(";")) {
    const index = part.indexOf("=");
    if (index < 0 || part.slice(0, index).trim() !== name) continue;
    const value = part.slice(index + 1).trim();
    return value.startsWith('"') && value.endsWith('"') && value.length >= 2
      ? value.slice(1, -1)
      : value;
  }
  return null;
}

/** A subscriber's token and where it came from, or null when it sent none. */
export function subscriberToken(
  request: Request,
  url: URL,
  auth: AuthConfig,
): { token: string; place: TokenPlace } | null {
  const header = bearerToken(request);
  if (header !== null) return { token: header, place: "header" };
  const cookie = cookieValue(request, auth.cookie);
  if (cookie !== null && cookie !== "") {
    return { token: cookie, place: "cookie" };
  }
  if (auth.queryToken) {
    const query = url.searchParams.get("authorization");
    if (query !== null) return { token: query, place: "query" };
  }
  return null;
}

/** A 401 for a missing or refused token, with the reason. */
export function unauthorized(message: string): Response {
  return jsonError(401, message, CHALLENGE);
}

/**
 * The grants of a subscriber: null when anonymous (no token sent), a 401
 * Response when a token was sent and refused, or when one is required.
 */
export async function authenticateSubscriber(
  request: Request,
  url: URL,
  auth: AuthConfig,
  verifier: TokenVerifier | null,
): Promise<Grants | null | Response> {
  if (verifier === null) return null;
  const found = subscriberToken(request, url, auth);
  if (found === null) {
    if (auth.subscribe === "required") {
      return unauthorized(
        `Cannot subscribe: a token is required (Authorization: Bearer, or the ${auth.cookie} cookie)`,
      );
    }
    return null;
  }
  return await verifyOr401(verifier, found.token, "subscribe");
}

/** The grants of the token, or a 401 saying why it is refused. */
export async function verifyOr401(
  verifier: TokenVerifier,
  token: string,
  action: "subscribe" | "publish",
): Promise<Grants | Response> {
  try {
    return await verifier.verify(token);
  } catch (error) {
    if (error instanceof TokenError) {
      return unauthorized(
        error.message.replace(/^Cannot use token/, `Cannot ${action}`),
      );
    }
    throw error;
  }
}
