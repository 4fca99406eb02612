/** POST /message over a real socket: every status code it answers, and why. */
import assert from "node:assert/strict";
import {
  BusUnavailableError,
  type EventDraft,
  type HubEvent,
  LocalBus,
} from "../lib/bus.ts";
import { BodyTooLargeError, readLimitedBody } from "../routes/_body.ts";
import { postUnendingChunkedBody } from "./_raw_http.ts";
import { startServer } from "./_server.ts";
import { dataOf, SseClient } from "./_sse_client.ts";

interface Answer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

async function post(
  url: string,
  body: BodyInit | null,
  headers: Record<string, string> = { "content-type": "application/json" },
): Promise<Answer> {
  const response = await fetch(`${url}/message`, {
    method: "POST",
    headers,
    body,
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    json: text === "" ? {} : JSON.parse(text),
  };
}

function assertError(answer: Answer, status: number, pattern?: RegExp): void {
  assert.equal(answer.status, status, JSON.stringify(answer.json));
  assert.match(
    answer.headers.get("content-type") ?? "",
    /^application\/json/,
  );
  assert.equal(typeof answer.json.error, "string");
  if (pattern !== undefined) assert.match(String(answer.json.error), pattern);
}

// --- 202 --------------------------------------------------------------------

Deno.test("POST /message answers 202 with {id, topic} and the event reaches the topic", async () => {
  await using server = await startServer();
  await using client = await SseClient.open(`${server.url}/events?topic=news`);
  await client.next();
  const answer = await post(
    server.url,
    JSON.stringify({ message: "hello", topic: "news", event: "headline" }),
  );
  assert.equal(answer.status, 202);
  assert.match(String(answer.json.id), /^\d+-\d+(-[a-z0-9]+)?$/);
  assert.equal(answer.json.topic, "news");
  const [event] = await client.collect(1);
  assert.equal(event!.id, answer.json.id);
  assert.equal(event!.event, "headline");
  assert.equal(dataOf(event!).message, "hello");
});

Deno.test("POST /message defaults the topic to chat", async () => {
  await using server = await startServer();
  const answer = await post(server.url, JSON.stringify({ message: "x" }));
  assert.equal(answer.status, 202);
  assert.equal(answer.json.topic, "chat");
});

Deno.test("POST /message accepts every spelling of a JSON content type", async () => {
  await using server = await startServer();
  for (
    const type of [
      "application/json",
      "application/json; charset=utf-8",
      "Application/JSON;charset=UTF-8",
      "application/vnd.api+json",
    ]
  ) {
    const answer = await post(server.url, '{"message":"x"}', {
      "content-type": type,
    });
    assert.equal(answer.status, 202, type);
  }
});

// --- 400 --------------------------------------------------------------------

const BAD_BODIES: Array<[string, string, RegExp]> = [
  ["malformed JSON", '{"message":', /not valid JSON/],
  ["an empty body", "", /not valid JSON/],
  ["a JSON array", '["x"]', /must be a JSON object/],
  ["a JSON string", '"x"', /must be a JSON object/],
  ["a missing message", "{}", /"message" must be a string/],
  ["a number as message", '{"message":1}', /"message" must be a string/],
  ["a null message", '{"message":null}', /"message" must be a string/],
  ["a topic with LF", '{"message":"x","topic":"a\\nb"}', /"topic"/],
  ["an empty topic", '{"message":"x","topic":""}', /"topic"/],
  ["an event with CRLF", '{"message":"x","event":"a\\r\\nid: 1"}', /"event"/],
  ["an event with NUL", '{"message":"x","event":"a\\u0000"}', /"event"/],
  ["the reserved event system", '{"message":"x","event":"system"}', /reserved/],
  ["the reserved event error", '{"message":"x","event":"error"}', /reserved/],
  ["an id from the publisher", '{"message":"x","id":"9-9"}', /"id"/],
  ["a retry field", '{"message":"x","retry":1}', /unknown field/],
];

for (const [name, body, pattern] of BAD_BODIES) {
  Deno.test(`POST /message answers 400 with {error} for ${name}`, async () => {
    await using server = await startServer();
    assertError(await post(server.url, body), 400, pattern);
  });
}

Deno.test("POST /message answers 400 for a body that is not UTF-8", async () => {
  await using server = await startServer();
  const bytes = new Uint8Array([
    ...new TextEncoder().encode('{"message":"'),
    0xff,
    0xfe,
    ...new TextEncoder().encode('"}'),
  ]);
  assertError(await post(server.url, bytes), 400, /not UTF-8/);
});

Deno.test("POST /message publishes nothing when it answers 400", async () => {
  await using server = await startServer();
  await using client = await SseClient.open(`${server.url}/events`);
  await client.next();
  for (const [, body] of BAD_BODIES) await post(server.url, body);
  const ok = await post(server.url, '{"message":"after"}');
  const [event] = await client.collect(1);
  assert.equal(event!.id, ok.json.id);
  assert.equal(server.app.hub.stats().events, 1);
});

// --- 401 --------------------------------------------------------------------

const TOKEN = "s3cret-Token_42";

const WRONG_AUTH: Array<[string, Record<string, string>]> = [
  ["no Authorization header", {}],
  ["an empty Bearer", { authorization: "Bearer " }],
  ["a wrong token", { authorization: "Bearer s3cret-Token_43" }],
  ["a prefix of the token", { authorization: "Bearer s3cret-Token_4" }],
  ["the token plus a character", { authorization: `Bearer ${TOKEN}x` }],
  ["the token in another case", {
    authorization: `Bearer ${TOKEN.toUpperCase()}`,
  }],
  ["the Basic scheme", { authorization: `Basic ${btoa(`user:${TOKEN}`)}` }],
  ["the bare token", { authorization: TOKEN }],
  ["two tokens", { authorization: `Bearer ${TOKEN} ${TOKEN}` }],
];

for (const [name, headers] of WRONG_AUTH) {
  Deno.test(`POST /message answers 401 with WWW-Authenticate for ${name}`, async () => {
    await using server = await startServer({ env: { PUBLISH_TOKEN: TOKEN } });
    const answer = await post(server.url, '{"message":"x"}', {
      "content-type": "application/json",
      ...headers,
    });
    assertError(answer, 401, /token/);
    assert.equal(
      answer.headers.get("www-authenticate"),
      'Bearer realm="herald"',
    );
    // The answer never echoes what was sent.
    assert.ok(!JSON.stringify(answer.json).includes(TOKEN));
    assert.equal(server.app.hub.stats().events, 0);
  });
}

Deno.test("POST /message answers 202 with the right Bearer token, in any scheme case", async () => {
  await using server = await startServer({ env: { PUBLISH_TOKEN: TOKEN } });
  for (
    const authorization of [
      `Bearer ${TOKEN}`,
      `bearer ${TOKEN}`,
      `BEARER  ${TOKEN}`,
    ]
  ) {
    const answer = await post(server.url, '{"message":"x"}', {
      "content-type": "application/json",
      authorization,
    });
    assert.equal(answer.status, 202, authorization);
  }
});

Deno.test("POST /message checks the token before the body: 401, not 413 or 415", async () => {
  await using server = await startServer({
    env: { PUBLISH_TOKEN: TOKEN, MAX_MESSAGE_BYTES: "16" },
  });
  assertError(
    await post(server.url, "x".repeat(1000), { "content-type": "text/plain" }),
    401,
  );
});

// --- 405 --------------------------------------------------------------------

for (const method of ["GET", "PUT", "PATCH", "DELETE"]) {
  Deno.test(`${method} /message answers 405 with Allow: POST, OPTIONS`, async () => {
    await using server = await startServer();
    const response = await fetch(`${server.url}/message`, {
      method,
      ...(method === "GET" ? {} : { body: '{"message":"x"}' }),
    });
    const json = await response.json();
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "POST, OPTIONS");
    assert.equal(typeof json.error, "string");
  });
}

// --- 413 --------------------------------------------------------------------

Deno.test("POST /message answers 202 for a body of exactly MAX_MESSAGE_BYTES", async () => {
  await using server = await startServer({
    env: { MAX_MESSAGE_BYTES: "1024" },
  });
  const body = JSON.stringify({ message: "x".repeat(1024 - 14) });
  assert.equal(new TextEncoder().encode(body).byteLength, 1024);
  assert.equal((await post(server.url, body)).status, 202);
});

Deno.test("POST /message answers 413 for a Content-Length one byte over MAX_MESSAGE_BYTES", async () => {
  await using server = await startServer({
    env: { MAX_MESSAGE_BYTES: "1024" },
  });
  const body = JSON.stringify({ message: "x".repeat(1024 - 13) });
  assert.equal(new TextEncoder().encode(body).byteLength, 1025);
  assertError(await post(server.url, body), 413, /larger than 1024 bytes/);
  assert.equal(server.app.hub.stats().events, 0);
});

Deno.test("POST /message answers 413 for a streamed body with no Content-Length", async () => {
  await using server = await startServer({
    env: { MAX_MESSAGE_BYTES: "1024" },
  });
  const chunk = new TextEncoder().encode("x".repeat(512));
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === 0) {
        controller.enqueue(new TextEncoder().encode('{"message":"'));
      } else if (sent < 8) controller.enqueue(chunk);
      else controller.close();
      sent++;
    },
  });
  assertError(await post(server.url, body), 413);
});

Deno.test("POST /message answers 413 to a chunked body over the limit before the body ends", async () => {
  await using server = await startServer({
    env: { MAX_MESSAGE_BYTES: "1024" },
  });
  // The body never ends (no `0\r\n\r\n`), yet the answer comes now.
  const response = await postUnendingChunkedBody(
    Number(new URL(server.url).port),
    2,
  );
  assert.ok(response !== null, "the server closed without answering");
  assert.equal(response.status, 413);
  assert.match(JSON.parse(response.body).error, /larger than 1024 bytes/);
  assert.equal(server.app.hub.stats().events, 0);
});

Deno.test("readLimitedBody() stops pulling the body as soon as it passes the limit", async () => {
  let pulled = 0;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(new Uint8Array(100));
    },
    cancel() {
      cancelled = true;
    },
  }, { highWaterMark: 0 });
  const request = new Request("http://x/message", { method: "POST", body });
  await assert.rejects(readLimitedBody(request, 1000), BodyTooLargeError);
  assert.ok(cancelled, "the rest of the body was not cancelled");
  // 11 chunks of 100 bytes pass 1000; at most one more is read ahead.
  assert.ok(pulled <= 12, `pulled ${pulled} chunks`);
});

Deno.test("readLimitedBody() refuses a declared Content-Length over the limit without reading", async () => {
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(new Uint8Array(10));
    },
  }, { highWaterMark: 0 });
  const request = new Request("http://x/message", {
    method: "POST",
    body,
    headers: { "content-length": "5000" },
  });
  await assert.rejects(readLimitedBody(request, 1000), BodyTooLargeError);
  assert.equal(pulled, 0);
});

// --- 415 --------------------------------------------------------------------

for (
  const type of [
    null,
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/jsonx",
    "text/json",
  ]
) {
  Deno.test(`POST /message answers 415 for Content-Type ${type}`, async () => {
    await using server = await startServer();
    const headers: Record<string, string> = type === null
      ? {}
      : { "content-type": type };
    const body = new TextEncoder().encode('{"message":"x"}');
    assertError(await post(server.url, body, headers), 415, /JSON/);
    assert.equal(server.app.hub.stats().events, 0);
  });
}

// --- 503 --------------------------------------------------------------------

/** A bus that is up for subscribers but cannot take a publish. */
class DownBus extends LocalBus {
  override publish(_draft: EventDraft): Promise<HubEvent> {
    return Promise.reject(
      new BusUnavailableError("Cannot publish: the bus is unavailable"),
    );
  }
}

Deno.test("POST /message answers 503 with Retry-After when the bus is unavailable", async () => {
  await using server = await startServer({ bus: new DownBus() });
  const answer = await post(server.url, '{"message":"x"}');
  assertError(answer, 503, /unavailable/);
  assert.match(answer.headers.get("retry-after") ?? "", /^\d+$/);
});
