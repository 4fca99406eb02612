/**
 * @module `/.well-known/mercure`: herald as a Mercure hub. GET subscribes by
 * selectors (draft-08 `match` / `match_exact` / `match_urlpattern`, the older
 * `topic=` with exact topics and URI templates); POST publishes a form
 * (`topic`, `data`, `private`, `id`, `type`, `retry`) and answers the id as
 * text. Errors carry RFC 6750 challenges. Tokens come from lib/auth/; the
 * streams from lib/mercure/. Web-only.
 */
import { BusUnavailableError } from "../lib/bus.ts";
import type { Grants } from "../lib/auth/grants.ts";
import { TokenError, type TokenVerifier } from "../lib/auth/token_verifier.ts";
import { HubClosedError, HubFullError } from "../lib/hub.ts";
import { DuplicateIdError, EARLIEST } from "../lib/mercure/mercure_hub.ts";
import {
  compileMercureSelectors,
  type MercureSelector,
  SelectorError,
  type TopicMatcher,
} from "../lib/mercure/selector.ts";
import { SUBSCRIPTIONS_PATH } from "../lib/mercure/subscriptions.ts";
import type { MercureUpdate } from "../lib/mercure/update.ts";
import { timingSafeEqual } from "../lib/timing_safe_equal.ts";
import { bearerToken, cookieValue } from "./_auth.ts";
import { BodyTooLargeError, readLimitedBody } from "./_body.ts";
import type { MethodTable, RouteContext } from "./_types.ts";

/** The path of the endpoint. */
export const MERCURE_PATH = "/.well-known/mercure";

/** The draft-08 cookie; the older `mercureAuthorization` is `AUTH_COOKIE`'s default. */
export const SECURE_COOKIE = "__Secure-mercure_access_token";

/** Longest topic or selector accepted here, in characters. */
export const MAX_MERCURE_TOPIC_LENGTH = 2048;

/** Longest publisher id accepted, in characters. */
export const MAX_MERCURE_ID_LENGTH = 256;

/** Control and Unicode format characters: never in a topic, selector, id or type. */
const FORBIDDEN = /[\p{Cc}\p{Cf}]/u;

const SELECTOR_PARAMS: Readonly<Record<string, MercureSelector["type"]>> = {
  match: "exact",
  match_exact: "exact",
  match_urlpattern: "urlpattern",
  topic: "template",
};

function text(
  status: number,
  body: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(body, {
    status,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "cache-control": "no-store",
      ...headers,
    },
  });
}

/** 401: a bare challenge when no token came, `invalid_token` for a bad one. */
function unauthorized(message: string, invalid: boolean): Response {
  return text(401, message, {
    "www-authenticate": invalid
      ? `Bearer error="invalid_token", error_description="${
        message.replace(/["\\]/g, "")
      }"`
      : "Bearer",
  });
}

function forbidden(message: string): Response {
  return text(403, message, {
    "www-authenticate": 'Bearer error="insufficient_scope"',
  });
}

/** The hub URL selectors and topics resolve against. */
function hubUrl(url: URL): string {
  return `${url.origin}${MERCURE_PATH}`;
}

async function verify(
  verifier: TokenVerifier,
  token: string,
  action: string,
): Promise<Grants | Response> {
  try {
    return await verifier.verify(token);
  } catch (error) {
    if (error instanceof TokenError) {
      return unauthorized(
        error.message.replace(/^Cannot use token/, `Cannot ${action}`),
        true,
      );
    }
    throw error;
  }
}

/** A subscriber's token: the header wins over the draft-08 cookie, then the older cookie, then `?authorization=` when `AUTH_QUERY` is on. */
function subscriberToken(context: RouteContext): string | null {
  const { request, url, config } = context;
  const header = bearerToken(request);
  if (header !== null) return header;
  for (const name of [SECURE_COOKIE, config.auth.cookie]) {
    const cookie = cookieValue(request, name);
    if (cookie !== null && cookie !== "") return cookie;
  }
  return config.auth.queryToken ? url.searchParams.get("authorization") : null;
}

function cursor(context: RouteContext): string | null {
  const { request, url } = context;
  const value = request.headers.get("last-event-id") ??
    url.searchParams.get("last_event_id") ??
    url.searchParams.get("lastEventID") ??
    url.searchParams.get("Last-Event-ID");
  return value === null || value === "" ? null : value;
}

async function subscribe(context: RouteContext): Promise<Response> {
  const { url, config } = context;
  const mercure = context.mercure;
  if (mercure === undefined || mercure === null) {
    return text(404, "Cannot subscribe: the Mercure endpoint is off");
  }
  const selectors: MercureSelector[] = [];
  for (const [name, value] of url.searchParams) {
    const type = SELECTOR_PARAMS[name];
    if (type === undefined) {
      if (name.startsWith("match")) {
        return text(400, `Cannot subscribe: unknown parameter "${name}"`);
      }
      continue;
    }
    if (FORBIDDEN.test(value) || value === "") {
      return text(
        400,
        `Cannot subscribe: the ${name} selector is empty or holds control or format characters`,
      );
    }
    if (value.length > MAX_MERCURE_TOPIC_LENGTH) {
      return text(
        400,
        `Cannot subscribe: a selector is longer than ${MAX_MERCURE_TOPIC_LENGTH} characters`,
      );
    }
    selectors.push({ match: value, type });
  }
  if (selectors.length === 0) {
    return text(400, "Cannot subscribe: give at least one match or topic");
  }
  if (selectors.length > config.maxTopicsPerStream) {
    return text(
      400,
      `Cannot subscribe: at most ${config.maxTopicsPerStream} selectors per stream, got ${selectors.length}`,
    );
  }
  const base = hubUrl(url);
  let matches: TopicMatcher;
  try {
    matches = compileMercureSelectors(selectors, base, { untrusted: true });
  } catch (error) {
    if (error instanceof SelectorError) return text(400, error.message);
    throw error;
  }
  const verifier = context.verifier ?? null;
  const token = verifier === null ? null : subscriberToken(context);
  let grants: Grants | null = null;
  if (token === null || token === "") {
    if (verifier !== null && !config.mercure.anonymous) {
      return unauthorized(
        "Cannot subscribe: a token is needed (anonymous subscribers are off; MERCURE_ANONYMOUS=1 allows them)",
        false,
      );
    }
  } else {
    const verified = await verify(verifier!, token, "subscribe");
    if (verified instanceof Response) return verified;
    grants = verified;
  }
  const mayRead = grants === null
    ? () => false
    : compileMercureSelectors(grants.subscribeSelectors, base);
  try {
    const opened = await mercure.subscribe({
      matches,
      mayRead,
      lastEventId: cursor(context),
      selectors,
      ...(grants === null
        ? {}
        : { expiresAt: grants.expiresAt, payload: grants.payload }),
    });
    const headers: Record<string, string> = {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      "x-accel-buffering": "no",
    };
    if (opened.replayedAfter !== null) {
      headers["mercure-last-event-id"] = opened.replayedAfter;
      headers["last-event-id"] = opened.replayedAfter;
    }
    return new Response(opened.stream, { headers });
  } catch (error) {
    if (error instanceof HubFullError) {
      return text(503, error.message, { "retry-after": "5" });
    }
    if (error instanceof HubClosedError) {
      return text(503, error.message, { "retry-after": "1" });
    }
    throw error;
  }
}

/** The URL's path with its escapes decoded (`%2E` is `.`); as is when malformed. */
function decodedPath(url: URL): string {
  try {
    return decodeURI(url.pathname);
  } catch {
    return url.pathname;
  }
}

/** Why a form cannot be published, or the update it asks for. */
function readForm(
  form: URLSearchParams,
  base: string,
): MercureUpdate | string {
  const topics = form.getAll("topic");
  if (topics.length === 0) return "Cannot publish: give at least one topic";
  for (const topic of topics) {
    if (topic === "" || FORBIDDEN.test(topic)) {
      return "Cannot publish: a topic is empty or holds control or format characters";
    }
    if (topic.length > MAX_MERCURE_TOPIC_LENGTH) {
      return `Cannot publish: a topic is longer than ${MAX_MERCURE_TOPIC_LENGTH} characters`;
    }
    if (topic === "*") return 'Cannot publish: "*" is not a topic';
    let resolved: URL | null = null;
    try {
      resolved = new URL(topic, base);
    } catch {
      resolved = null;
    }
    const path = resolved === null ? "" : decodedPath(resolved);
    if (
      resolved !== null && resolved.origin === new URL(base).origin &&
      (path === "/.well-known/mercure" ||
        path.startsWith("/.well-known/mercure/"))
    ) {
      return `Cannot publish: topics under ${MERCURE_PATH} are the hub's own`;
    }
  }
  const id = form.get("id");
  if (id !== null) {
    if (id === "" || FORBIDDEN.test(id) || id.length > MAX_MERCURE_ID_LENGTH) {
      return `Cannot publish: "id" must be 1 to ${MAX_MERCURE_ID_LENGTH} characters with no control or format characters`;
    }
    if (id === EARLIEST) return 'Cannot publish: "earliest" is not an id';
    if (id.startsWith("#")) {
      return 'Cannot publish: an id must not start with "#"';
    }
  }
  const type = form.get("type");
  if (type !== null) {
    if (type === "" || FORBIDDEN.test(type) || type.length > 256) {
      return 'Cannot publish: "type" must be 1 to 256 characters with no control or format characters';
    }
    if (type === "mercure") {
      return 'Cannot publish: the type "mercure" is reserved';
    }
  }
  const retry = form.get("retry");
  if (retry !== null && !/^\d{1,9}$/.test(retry)) {
    return 'Cannot publish: "retry" must be digits (milliseconds)';
  }
  return {
    topics: [...new Set(topics)],
    data: form.get("data") ?? "",
    id,
    type,
    retry: retry === null ? null : Number(retry),
    private: form.has("private"),
  };
}

/**
 * Who may publish: with neither `PUBLISH_TOKEN` nor a key, anyone (as on
 * `/message`); `PUBLISH_TOKEN` grants every topic; a JWT its publish grants.
 */
async function publisher(
  context: RouteContext,
): Promise<TopicMatcher | Response> {
  const { request, config, url } = context;
  const verifier = context.publisherVerifier ?? context.verifier ?? null;
  if (config.publishToken === null && verifier === null) return () => true;
  const token = bearerToken(request);
  if (token === null || token === "") {
    return unauthorized("Cannot publish: a bearer token is needed", false);
  }
  if (
    config.publishToken !== null && timingSafeEqual(token, config.publishToken)
  ) {
    return () => true;
  }
  if (verifier === null) {
    return unauthorized("Cannot publish: wrong bearer token", true);
  }
  const grants = await verify(verifier, token, "publish");
  if (grants instanceof Response) return grants;
  return compileMercureSelectors(grants.publishSelectors, hubUrl(url));
}

async function publish(context: RouteContext): Promise<Response> {
  const { request, config, url } = context;
  const mercure = context.mercure;
  if (mercure === undefined || mercure === null) {
    await request.body?.cancel();
    return text(404, "Cannot publish: the Mercure endpoint is off");
  }
  const mayPublish = await publisher(context);
  if (mayPublish instanceof Response) {
    await request.body?.cancel();
    return mayPublish;
  }
  const type =
    (request.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
  if (type.toLowerCase() !== "application/x-www-form-urlencoded") {
    await request.body?.cancel();
    return text(
      400,
      "Cannot publish: the body must be a form (Content-Type: application/x-www-form-urlencoded)",
    );
  }
  let form: URLSearchParams;
  try {
    const bytes = await readLimitedBody(request, config.maxMessageBytes);
    form = new URLSearchParams(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes),
    );
  } catch (error) {
    if (error instanceof BodyTooLargeError) return text(413, error.message);
    if (error instanceof TypeError) {
      return text(400, "Cannot publish: the body is not UTF-8");
    }
    throw error;
  }
  const update = readForm(form, hubUrl(url));
  if (typeof update === "string") return text(400, update);
  if (update.topics.length > config.maxTopicsPerStream) {
    return text(
      400,
      `Cannot publish: at most ${config.maxTopicsPerStream} topics, got ${update.topics.length}`,
    );
  }
  // Every topic is checked before anything is dispatched.
  const refused = update.topics.find((topic) => !mayPublish(topic));
  if (refused !== undefined) {
    return forbidden(
      `Cannot publish to ${
        JSON.stringify(refused)
      }: the token does not grant it`,
    );
  }
  if (update.private && (context.verifier ?? null) === null) {
    return text(
      400,
      "Cannot publish a private update: no stream could read it without JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL",
    );
  }
  try {
    return text(200, await mercure.publish(update));
  } catch (error) {
    if (error instanceof DuplicateIdError) return text(409, error.message);
    if (error instanceof BusUnavailableError) {
      return text(503, error.message, { "retry-after": "1" });
    }
    throw error;
  }
}

/**
 * The subscriptions API: the active subscriptions under the asked path (all,
 * one selector's, or one) as JSON-LD, for a token that grants `subscribe` on
 * that path. Off (404) unless `MERCURE_SUBSCRIPTIONS=1`.
 */
async function listSubscriptions(context: RouteContext): Promise<Response> {
  const { url } = context;
  const mercure = context.mercure ?? null;
  const path = url.pathname.replace(/\/+$/, "");
  const all = mercure?.subscriptions(path) ?? null;
  if (
    mercure === null || all === null || !path.startsWith(SUBSCRIPTIONS_PATH)
  ) {
    return text(404, `Not found: ${url.pathname}`);
  }
  const verifier = context.verifier ?? null;
  const token = verifier === null ? null : subscriberToken(context);
  if (verifier === null || token === null || token === "") {
    return unauthorized("Cannot list subscriptions: a token is needed", false);
  }
  const grants = await verify(verifier, token, "list subscriptions");
  if (grants instanceof Response) return grants;
  const mayRead = compileMercureSelectors(
    grants.subscribeSelectors,
    hubUrl(url),
  );
  if (!mayRead(path) && !mayRead(`${url.origin}${path}`)) {
    return forbidden(
      `Cannot list subscriptions: the token does not grant ${
        JSON.stringify(path)
      }`,
    );
  }
  await mercure.warm();
  const lastEventId = mercure.lastEventId;
  const headers = {
    "content-type": "application/ld+json; charset=utf-8",
    "cache-control": "no-store",
    link: `<${hubUrl(url)}>; rel="mercure"; last-event-id="${
      encodeURIComponent(lastEventId)
    }"`,
  };
  const segments = path.slice(SUBSCRIPTIONS_PATH.length).split("/").length - 1;
  if (segments === 3) {
    const one = all.find((s) => s.id === path);
    if (one === undefined) {
      return text(404, `Cannot find subscription ${JSON.stringify(path)}`);
    }
    return new Response(
      JSON.stringify({ "@context": "https://mercure.rocks/", ...one }),
      { headers },
    );
  }
  return new Response(
    JSON.stringify({
      "@context": "https://mercure.rocks/",
      id: path,
      type: "Subscriptions",
      lastEventID: lastEventId,
      subscriptions: all,
    }),
    { headers },
  );
}

/** The method table of `/.well-known/mercure/subscriptions[/…]`. */
export const subscriptionsHandlers: MethodTable = { GET: listSubscriptions };

/** The method table of `/.well-known/mercure`. */
export const handlers: MethodTable = { GET: subscribe, POST: publish };
