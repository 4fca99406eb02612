/**
 * @module `GET /.well-known/oauth-protected-resource/.well-known/mercure`:
 * the hub's OAuth 2.0 protected-resource metadata (RFC 9728), which
 * Mercure's draft-08 asks a hub to publish: the resource identifier tokens
 * name in `aud`, the issuers it trusts, and how a token may be sent.
 * Web-only.
 */
import { json } from "./_responses.ts";
import type { MethodTable, RouteContext } from "./_types.ts";
import { MERCURE_PATH } from "./mercure.ts";

/** Where the metadata of `/.well-known/mercure` lives (RFC 9728 §3.1). */
export const MERCURE_METADATA_PATH =
  `/.well-known/oauth-protected-resource${MERCURE_PATH}`;

function metadata(context: RouteContext): Response {
  const { config, url } = context;
  if ((context.mercure ?? null) === null) {
    return json({ error: "The Mercure endpoint is off" }, { status: 404 });
  }
  const auth = config.auth;
  const issuers = [
    ...new Set([...auth.issuers, ...(config.publisherAuth?.issuers ?? [])]),
  ];
  return json({
    // The identifier tokens must name, else the URL the hub is reached at.
    resource: auth.audience ?? `${url.origin}${MERCURE_PATH}`,
    ...(issuers.length === 0 ? {} : { authorization_servers: issuers }),
    bearer_methods_supported: auth.queryToken ? ["header", "query"] : [
      "header",
    ],
    resource_name: "herald (Mercure hub)",
  });
}

/** The method table of the metadata URL. */
export const metadataHandlers: MethodTable = { GET: metadata };
