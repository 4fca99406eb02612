/** @module POST /message: authenticates, reads at most MAX_MESSAGE_BYTES, validates, publishes. */
import { BusUnavailableError } from "../lib/bus.ts";
import { MessageError, parseMessage } from "../lib/message.ts";
import { timingSafeEqual } from "../lib/timing_safe_equal.ts";
import type { Grants } from "../lib/auth/grants.ts";
import { bearerToken, unauthorized, verifyOr401 } from "./_auth.ts";
import { BodyTooLargeError, readLimitedBody } from "./_body.ts";
import { json, jsonError } from "./_responses.ts";
import type { MethodTable, RouteContext } from "./_types.ts";

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json$/i;

function authorized(request: Request, token: string): boolean {
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  // Compared in constant time even when the header is missing or malformed.
  return timingSafeEqual(match?.[1] ?? "", token) && match !== null;
}

/**
 * Who may publish: anyone when neither PUBLISH_TOKEN nor a token key is set;
 * otherwise the PUBLISH_TOKEN (every topic) or a JWT, whose grants are
 * returned. A Response is the 401 to answer.
 */
async function publisher(
  context: RouteContext,
): Promise<Grants | null | Response> {
  const { request, config } = context;
  const verifier = context.publisherVerifier ?? context.verifier ?? null;
  if (config.publishToken === null && verifier === null) return null;
  if (
    config.publishToken !== null && authorized(request, config.publishToken)
  ) {
    return null;
  }
  const token = bearerToken(request);
  if (verifier === null || token === null || token === "") {
    return unauthorized("Cannot publish: missing or wrong bearer token");
  }
  return await verifyOr401(verifier, token, "publish");
}

async function publish(context: RouteContext): Promise<Response> {
  const { request, hub } = context;
  const config = context.config;
  const grants = await publisher(context);
  if (grants instanceof Response) {
    await request.body?.cancel();
    return grants;
  }
  const type =
    (request.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
  if (!JSON_TYPE.test(type)) {
    await request.body?.cancel();
    return jsonError(
      415,
      "Cannot publish: the body must be JSON (Content-Type: application/json)",
    );
  }
  let text: string;
  try {
    const bytes = await readLimitedBody(request, config.maxMessageBytes);
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      return jsonError(413, error.message);
    }
    if (error instanceof TypeError) {
      return jsonError(400, "Cannot publish: the body is not UTF-8");
    }
    throw error;
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return jsonError(400, "Cannot publish: the body is not valid JSON");
  }
  try {
    const message = parseMessage(body);
    if (message.private === true && (context.verifier ?? null) === null) {
      return jsonError(
        400,
        "Cannot publish a private event: no stream could read it without JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL",
      );
    }
    // Checked before anything is dispatched.
    if (grants !== null && !grants.mayPublish(message.topic)) {
      return jsonError(
        403,
        `Cannot publish to ${
          JSON.stringify(message.topic)
        }: the token's mercure.publish does not grant it`,
      );
    }
    const event = await hub.publish(message);
    return json({ id: event.id, topic: event.topic }, { status: 202 });
  } catch (error) {
    if (error instanceof MessageError) return jsonError(400, error.message);
    if (error instanceof BusUnavailableError) {
      return jsonError(503, error.message, { "retry-after": "1" });
    }
    throw error;
  }
}

/** The method table of `/message`. */
export const handlers: MethodTable = { POST: publish };
