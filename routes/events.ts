/** @module GET /events: opens an SSE stream on the asked topics, replaying after Last-Event-ID. */
import { HubClosedError, HubFullError } from "../lib/hub.ts";
import { DEFAULT_TOPIC, MessageError, validateTopic } from "../lib/message.ts";
import { authenticateSubscriber } from "./_auth.ts";
import { jsonError } from "./_responses.ts";
import type { MethodTable, RouteContext } from "./_types.ts";

const DEFAULT_TOPICS: readonly string[] = Object.freeze([DEFAULT_TOPIC]);

/** Ids longer than this are not ours; they replay as "unknown-id". */
const MAX_ID_LENGTH = 128;

function lastEventId(context: RouteContext): string | null {
  const { request, url } = context;
  const value = request.headers.get("last-event-id") ??
    url.searchParams.get("lastEventId") ??
    url.searchParams.get("last_event_id");
  if (value === null || value === "") return null;
  return value.length > MAX_ID_LENGTH ? value.slice(0, MAX_ID_LENGTH) : value;
}

async function streamEvents(context: RouteContext): Promise<Response> {
  const { request, url, config, hub } = context;
  const asked = url.searchParams.getAll("topic");
  const topics = asked.length === 0
    ? DEFAULT_TOPICS
    : asked.length === 1
    ? asked
    : [...new Set(asked)];
  if (topics.length > config.maxTopicsPerStream) {
    return jsonError(
      400,
      `Cannot subscribe: at most ${config.maxTopicsPerStream} topics per stream, got ${topics.length}`,
    );
  }
  try {
    for (const topic of topics) validateTopic(topic);
  } catch (error) {
    if (error instanceof MessageError) return jsonError(400, error.message);
    throw error;
  }
  // The token is checked here, once; the hub only keeps what it allows.
  const grants = await authenticateSubscriber(
    request,
    url,
    config.auth,
    context.verifier ?? null,
  );
  if (grants instanceof Response) return grants;
  const privateTopics = grants === null
    ? []
    : topics.filter((topic) => grants.maySubscribe(topic));
  if (grants !== null && config.auth.subscribe === "required") {
    const refused = topics.find((topic) => !privateTopics.includes(topic));
    if (refused !== undefined) {
      return jsonError(
        403,
        `Cannot subscribe to ${
          JSON.stringify(refused)
        }: the token's mercure.subscribe does not grant it`,
      );
    }
  }
  try {
    const stream = hub.subscribe(topics, lastEventId(context), {
      privateTopics,
      ...(grants === null ? {} : { expiresAt: grants.expiresAt }),
    });
    return new Response(stream, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        // no-transform also keeps Deno (and proxies) from compressing, which buffers.
        "cache-control": "no-cache, no-transform",
        "x-accel-buffering": "no",
      },
    });
  } catch (error) {
    // EventSource will not retry a 503 by itself; the page offers a button.
    if (error instanceof HubFullError) {
      return jsonError(503, error.message, { "retry-after": "5" });
    }
    if (error instanceof HubClosedError) {
      return jsonError(503, error.message, { "retry-after": "1" });
    }
    throw error;
  }
}

/** The method table of `/events`. */
export const handlers: MethodTable = { GET: streamEvents };
