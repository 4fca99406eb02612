/**
 * Black-box tests of `/.well-known/mercure` over a real server: subscribe and
 * publish in both dialects, private updates, cursors and their headers,
 * every refusal with its challenge, and the two APIs on one hub.
 */
import assert from "node:assert/strict";
import { EventSource as NpmEventSource } from "eventsource";
import { eventually, startServer, type TestServer } from "./_server.ts";
import { SseClient } from "./_sse_client.ts";
import { mint, SECRET } from "./_tokens.ts";

const HUB = "/.well-known/mercure";
const KEYED = { JWT_SECRET: SECRET, MERCURE_ANONYMOUS: "1" };

function publishForm(
  server: TestServer,
  fields: Array<[string, string]>,
  token: string | null,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${server.url}${HUB}`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...headers,
    },
    body: new URLSearchParams(fields).toString(),
  });
}

async function publishOk(
  server: TestServer,
  fields: Array<[string, string]>,
  token: string,
): Promise<string> {
  const response = await publishForm(server, fields, token);
  const body = await response.text();
  assert.equal(response.status, 200, body);
  assert.equal(
    response.headers.get("content-type"),
    "text/plain; charset=utf-8",
  );
  return body;
}

function subscribeUrl(server: TestServer, query: string): string {
  return `${server.url}${HUB}?${query}`;
}

const publisher = () => mint({ publish: ["*"] });

Deno.test("POST /.well-known/mercure publishes raw data that a match subscriber receives with the publisher's id, type and retry", async () => {
  await using server = await startServer({ env: KEYED });
  await using client = await SseClient.open(
    subscribeUrl(server, "match=https://example.com/books/1"),
  );
  assert.equal(client.response.headers.get("mercure-last-event-id"), null);
  const token = await publisher();
  const plain = await publishOk(server, [
    ["topic", "https://example.com/books/1"],
    ["data", '{"title":"one"}\nsecond line'],
  ], token);
  const typed = await publishOk(server, [
    ["topic", "https://example.com/books/1"],
    ["data", "typed"],
    ["id", "urn:uuid:abc"],
    ["type", "book-updated"],
    ["retry", "1234"],
  ], token);
  assert.equal(typed, "urn:uuid:abc");
  const [first, second] = await client.collect(2);
  assert.deepEqual(first, {
    event: "message",
    data: '{"title":"one"}\nsecond line',
    id: plain,
  });
  assert.deepEqual(second, {
    event: "book-updated",
    data: "typed",
    id: "urn:uuid:abc",
  });
  assert.deepEqual(client.retries, [1234]);
});

Deno.test("GET /.well-known/mercure sends no herald system, update or reset events, only comments before the first update", async () => {
  await using server = await startServer({
    env: { ...KEYED, UPDATE_INTERVAL_MS: "20", HEARTBEAT_MS: "20" },
  });
  const response = await fetch(subscribeUrl(server, "match=*"));
  const reader = response.body!.pipeThrough(new TextDecoderStream())
    .getReader();
  let text = "";
  const deadline = Date.now() + 5000;
  while (!text.includes("keep-alive") && Date.now() < deadline) {
    text += (await reader.read()).value ?? "";
  }
  await reader.cancel();
  assert.match(text, /: keep-alive/);
  assert.doesNotMatch(text, /event:|data:/);
});

Deno.test("match_exact, match_urlpattern and the older topic= URI template select updates by topic", async () => {
  await using server = await startServer({ env: KEYED });
  await using exact = await SseClient.open(
    subscribeUrl(server, "match_exact=/books/1"),
  );
  await using pattern = await SseClient.open(
    subscribeUrl(server, "match_urlpattern=/books/:id"),
  );
  await using template = await SseClient.open(
    subscribeUrl(server, "topic=" + encodeURIComponent("/books/{id}")),
  );
  const token = await publisher();
  await publishOk(
    server,
    [["topic", "/books/1/reviews"], ["data", "deep"]],
    token,
  );
  await publishOk(server, [["topic", "/books/2"], ["data", "two"]], token);
  await publishOk(server, [["topic", "/books/1"], ["data", "one"]], token);
  assert.deepEqual((await exact.collect(1)).map((e) => e.data), ["one"]);
  assert.deepEqual((await pattern.collect(2)).map((e) => e.data), [
    "two",
    "one",
  ]);
  assert.deepEqual((await template.collect(2)).map((e) => e.data), [
    "two",
    "one",
  ]);
});

Deno.test("an update with several topics reaches a stream matching any of them once", async () => {
  await using server = await startServer({ env: KEYED });
  await using client = await SseClient.open(
    subscribeUrl(server, "match=/a&match=/b"),
  );
  const token = await publisher();
  await publishOk(
    server,
    [["topic", "/b"], ["topic", "/a"], ["data", "both"]],
    token,
  );
  await publishOk(server, [["topic", "/a"], ["data", "next"]], token);
  assert.deepEqual((await client.collect(2)).map((e) => e.data), [
    "both",
    "next",
  ]);
});

Deno.test("Last-Event-ID replays after the id and says so in Mercure-Last-Event-ID and Last-Event-ID", async () => {
  await using server = await startServer({ env: KEYED });
  const token = await publisher();
  const ids: string[] = [];
  for (const data of ["a", "b", "c"]) {
    ids.push(await publishOk(server, [["topic", "/t"], ["data", data]], token));
  }
  await using header = await SseClient.open(subscribeUrl(server, "match=/t"), {
    headers: { "last-event-id": ids[0]! },
  });
  assert.equal(header.response.headers.get("mercure-last-event-id"), ids[0]);
  assert.equal(header.response.headers.get("last-event-id"), ids[0]);
  assert.deepEqual((await header.collect(2)).map((e) => e.data), ["b", "c"]);
  for (const name of ["last_event_id", "lastEventID", "Last-Event-ID"]) {
    await using query = await SseClient.open(
      subscribeUrl(server, `match=/t&${name}=${ids[1]}`),
    );
    assert.equal(query.response.headers.get("mercure-last-event-id"), ids[1]);
    assert.deepEqual((await query.collect(1)).map((e) => e.data), ["c"]);
  }
  // The header wins over the query parameter.
  await using both = await SseClient.open(
    subscribeUrl(server, `match=/t&last_event_id=${ids[0]}`),
    { headers: { "last-event-id": ids[1]! } },
  );
  assert.deepEqual((await both.collect(1)).map((e) => e.data), ["c"]);
});

Deno.test("earliest and an unknown id replay everything retained, with Mercure-Last-Event-ID: earliest", async () => {
  await using server = await startServer({ env: KEYED });
  const token = await publisher();
  await publishOk(
    server,
    [["topic", "/t"], ["data", "a"], ["id", "first"]],
    token,
  );
  await publishOk(server, [["topic", "/t"], ["data", "b"]], token);
  for (const cursor of ["earliest", "never-seen"]) {
    await using client = await SseClient.open(
      subscribeUrl(server, `match=/t&last_event_id=${cursor}`),
    );
    assert.equal(
      client.response.headers.get("mercure-last-event-id"),
      "earliest",
    );
    const events = await client.collect(2);
    assert.deepEqual(events.map((e) => e.data), ["a", "b"]);
    assert.equal(events[0]!.id, "first");
  }
});

Deno.test("a private update reaches only tokens granting one of its topics, live and replayed", async () => {
  await using server = await startServer({ env: KEYED });
  const token = await publisher();
  const granted = await mint({ subscribe: ["/users/{id}"] });
  const other = await mint({ subscribe: ["/other"] });
  await using mine = await SseClient.open(subscribeUrl(server, "match=*"), {
    headers: { authorization: `Bearer ${granted}` },
  });
  await using theirs = await SseClient.open(subscribeUrl(server, "match=*"), {
    headers: { authorization: `Bearer ${other}` },
  });
  await using anonymous = await SseClient.open(subscribeUrl(server, "match=*"));
  await publishOk(server, [
    ["topic", "/private/1"],
    ["topic", "/users/42"],
    ["data", "secret"],
    ["private", "on"],
  ], token);
  await publishOk(server, [["topic", "/public"], ["data", "public"]], token);
  assert.deepEqual((await mine.collect(2)).map((e) => e.data), [
    "secret",
    "public",
  ]);
  assert.deepEqual((await theirs.collect(1)).map((e) => e.data), ["public"]);
  assert.deepEqual((await anonymous.collect(1)).map((e) => e.data), ["public"]);
  await using replayOther = await SseClient.open(
    subscribeUrl(server, "match=*&last_event_id=earliest"),
    { headers: { authorization: `Bearer ${other}` } },
  );
  assert.deepEqual((await replayOther.collect(1)).map((e) => e.data), [
    "public",
  ]);
  await using replayMine = await SseClient.open(
    subscribeUrl(server, "match=*&last_event_id=earliest"),
    { headers: { cookie: `mercureAuthorization=${granted}` } },
  );
  assert.deepEqual((await replayMine.collect(2)).map((e) => e.data), [
    "secret",
    "public",
  ]);
});

Deno.test("draft-08 tokens: at+jwt with authorization_details grant publish and subscribe; a malformed entry is a 401", async () => {
  await using server = await startServer({
    env: {
      JWT_SECRET: SECRET,
      MERCURE_RESOURCE_IDENTIFIER: "https://hub.example",
    },
  });
  const detail = (actions: string[], topics: unknown[]) => ({
    type: "https://mercure.rocks/authorization-detail",
    actions,
    topics,
  });
  const pub = await mint({}, {
    typ: "at+jwt",
    audience: "https://hub.example",
    claims: {
      authorization_details: [
        detail(["publish"], [{ match: "/d/:id", match_type: "urlpattern" }]),
      ],
    },
  });
  const sub = await mint({}, {
    typ: "at+jwt",
    audience: "https://hub.example",
    claims: {
      authorization_details: [detail(["subscribe"], [{ match: "/d/1" }])],
    },
  });
  await using client = await SseClient.open(
    subscribeUrl(server, "match=/d/1"),
    {
      headers: { cookie: `__Secure-mercure_access_token=${sub}` },
    },
  );
  await publishOk(
    server,
    [["topic", "/d/1"], ["data", "p"], ["private", "1"]],
    pub,
  );
  assert.equal((await client.next()).data, "p");
  const refused = await publishForm(
    server,
    [["topic", "/e/1"], ["data", "x"]],
    pub,
  );
  assert.equal(refused.status, 403);
  await refused.body?.cancel();
  const noAudience = await mint({ publish: ["*"] });
  const wrongAud = await publishForm(server, [["topic", "/d/1"]], noAudience);
  assert.equal(wrongAud.status, 401);
  await wrongAud.body?.cancel();
  const malformed = await mint({}, {
    audience: "https://hub.example",
    claims: { authorization_details: [detail(["publish", "delete"], [])] },
  });
  const bad = await publishForm(server, [["topic", "/d/1"]], malformed);
  assert.equal(bad.status, 401);
  assert.match(bad.headers.get("www-authenticate")!, /error="invalid_token"/);
  await bad.body?.cancel();
});

Deno.test("subscribe tokens: the header wins over cookies, anonymous streams are refused unless MERCURE_ANONYMOUS=1", async () => {
  await using server = await startServer({ env: { JWT_SECRET: SECRET } });
  const none = await fetch(subscribeUrl(server, "match=*"));
  assert.equal(none.status, 401);
  assert.equal(none.headers.get("www-authenticate"), "Bearer");
  await none.body?.cancel();
  const good = await mint({ subscribe: ["*"] });
  const headerWins = await fetch(subscribeUrl(server, "match=*"), {
    headers: {
      authorization: "Bearer not.a.token",
      cookie: `mercureAuthorization=${good}`,
    },
  });
  assert.equal(headerWins.status, 401);
  assert.match(
    headerWins.headers.get("www-authenticate")!,
    /error="invalid_token"/,
  );
  await headerWins.body?.cancel();
  await using cookie = await SseClient.open(subscribeUrl(server, "match=*"), {
    headers: { cookie: `mercureAuthorization=${good}` },
  });
  assert.equal(cookie.response.status, 200);
});

Deno.test("a stream closes when its token expires", async () => {
  await using server = await startServer({ env: KEYED });
  const token = await mint({ subscribe: ["*"] }, { ttlSeconds: 1 });
  await using client = await SseClient.open(subscribeUrl(server, "match=*"), {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(await client.ended(10_000), true);
});

Deno.test("publish refusals: 401 bare and invalid_token, 403 insufficient_scope dispatching nothing, 400, 409 and 413", async () => {
  await using server = await startServer({
    env: { ...KEYED, MAX_MESSAGE_BYTES: "4096" },
  });
  await using client = await SseClient.open(subscribeUrl(server, "match=*"));
  const noToken = await publishForm(server, [["topic", "/a"]], null);
  assert.equal(noToken.status, 401);
  assert.equal(noToken.headers.get("www-authenticate"), "Bearer");
  await noToken.body?.cancel();
  const badToken = await publishForm(server, [["topic", "/a"]], "x.y.z");
  assert.equal(badToken.status, 401);
  assert.match(
    badToken.headers.get("www-authenticate")!,
    /^Bearer error="invalid_token"/,
  );
  await badToken.body?.cancel();
  const narrow = await mint({ publish: ["/a"] });
  const scope = await publishForm(server, [["topic", "/a"], ["topic", "/b"], [
    "data",
    "no",
  ]], narrow);
  assert.equal(scope.status, 403);
  assert.equal(
    scope.headers.get("www-authenticate"),
    'Bearer error="insufficient_scope"',
  );
  await scope.body?.cancel();
  const token = await publisher();
  const bad: Array<Array<[string, string]>> = [
    [["data", "no topic"]],
    [["topic", "*"]],
    [["topic", "/.well-known/mercure/subscriptions"]],
    [["topic", `${server.url}/.well-known/mercure`]],
    [["topic", "/%2Ewell-known/mercure/x"]],
    [["topic", "/a/../.well-known/mercure"]],
    [["topic", "/a\u0007"]],
    [["topic", "/a"], ["id", "earliest"]],
    [["topic", "/a"], ["id", "#x"]],
    [["topic", "/a"], ["id", "a\nb"]],
    [["topic", "/a"], ["type", "mercure"]],
    [["topic", "/a"], ["type", "a\u200bb"]],
    [["topic", "/a"], ["retry", "-1"]],
    [["topic", "/a"], ["retry", "1e3"]],
    [["topic", "x".repeat(2049)]],
  ];
  for (const fields of bad) {
    const response = await publishForm(server, fields, token);
    assert.equal(response.status, 400, JSON.stringify(fields));
    await response.body?.cancel();
  }
  const json = await fetch(`${server.url}${HUB}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
    },
    body: "{}",
  });
  assert.equal(json.status, 400);
  await json.body?.cancel();
  const big = await publishForm(server, [["topic", "/a"], [
    "data",
    "x".repeat(5000),
  ]], token);
  assert.equal(big.status, 413);
  await big.body?.cancel();
  assert.equal(
    await publishOk(
      server,
      [["topic", "/a"], ["id", "dup"], ["data", "1"]],
      token,
    ),
    "dup",
  );
  const dup = await publishForm(server, [["topic", "/a"], ["id", "dup"], [
    "data",
    "2",
  ]], token);
  assert.equal(dup.status, 409);
  await dup.body?.cancel();
  // A malformed escape is a topic like any other, not a server error.
  await publishOk(server, [["topic", "/%E0%A4%A"]], token);
  // Of everything above, only the accepted updates were dispatched.
  const accepted = await client.collect(2);
  assert.deepEqual(accepted.map((e) => e.data), ["1", ""]);
  assert.equal(await client.ended(300), false);
});

Deno.test("subscribe refusals: no selector, an unknown match parameter, control characters, a bad URL Pattern", async () => {
  await using server = await startServer({ env: KEYED });
  for (
    const query of [
      "",
      "matchx=/a",
      "match_regex=/a",
      "match=%07",
      "match=a%E2%80%8Bb",
      "match_urlpattern=" + encodeURIComponent("https://ex.com/(("),
      "match_urlpattern=" + encodeURIComponent("/a/(a+)+b"),
    ]
  ) {
    const response = await fetch(subscribeUrl(server, query));
    assert.equal(response.status, 400, query);
    await response.body?.cancel();
  }
});

Deno.test("one hub: /message reaches Mercure streams and a Mercure publish reaches /events on its canonical topic", async () => {
  await using server = await startServer({ env: KEYED });
  await using mercure = await SseClient.open(
    subscribeUrl(server, "match=chat"),
  );
  await using events = await SseClient.open(`${server.url}/events?topic=news`);
  const token = await publisher();
  const { status, json } = await server.publish({
    message: "hello",
    topic: "chat",
  }, { authorization: `Bearer ${token}` });
  assert.equal(status, 202);
  const fromHerald = await mercure.next();
  assert.equal(fromHerald.id, json.id);
  assert.equal(fromHerald.event, "chat");
  assert.equal(JSON.parse(fromHerald.data).message, "hello");

  await publishOk(server, [["topic", "news"], ["topic", "other"], [
    "data",
    "raw text",
  ], ["type", "headline"]], token);
  const [fromMercure] = await events.collect(1);
  assert.equal(fromMercure!.event, "headline");
  assert.equal(fromMercure!.data, "raw text");
});

Deno.test("Symfony's publisher request on the wire gets 200 with the id, and the update is delivered to npm eventsource", async () => {
  await using server = await startServer({ env: { JWT_SECRET: SECRET } });
  const jwt = await mint({ publish: ["*"], subscribe: ["*"] });
  const received = Promise.withResolvers<MessageEvent>();
  const source = new NpmEventSource(
    subscribeUrl(
      server,
      "topic=" + encodeURIComponent("https://example.com/books/{id}"),
    ),
    {
      fetch: (input, init) =>
        fetch(input, {
          ...init,
          headers: { ...init?.headers, authorization: `Bearer ${jwt}` },
        }),
    },
  );
  source.addEventListener("book", (event) => received.resolve(event));
  const opened = Promise.withResolvers<void>();
  source.onopen = () => opened.resolve();
  source.onerror = (event) => opened.reject(new Error(String(event.message)));
  try {
    await opened.promise;
    // Symfony\Component\Mercure\Hub::publish(): the form it builds, in its order.
    const body =
      "topic=https%3A%2F%2Fexample.com%2Fbooks%2F1&topic=https%3A%2F%2Fexample.com%2Fauthors%2F2" +
      "&data=%7B%22status%22%3A%22OutOfStock%22%7D&private=on&id=sym-1&type=book&retry=2000";
    const response = await fetch(`${server.url}${HUB}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${jwt}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body,
    });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "sym-1");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const event = await Promise.race([
      received.promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("No update within 5 s")),
          5000,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(event.data, '{"status":"OutOfStock"}');
    assert.equal(event.lastEventId, "sym-1");
  } finally {
    source.close();
  }
});

Deno.test("MERCURE_DISCOVERY_URL adds Link rel=mercure to herald's responses", async () => {
  await using server = await startServer({
    env: { MERCURE_DISCOVERY_URL: "https://hub.example/.well-known/mercure" },
  });
  const response = await fetch(`${server.url}/stats`);
  assert.equal(
    response.headers.get("link"),
    '<https://hub.example/.well-known/mercure>; rel="mercure"',
  );
  await response.body?.cancel();
});

Deno.test("a replay larger than the slow-reader bound reaches a reader that keeps reading, then live updates follow in order", async () => {
  await using server = await startServer({
    env: { ...KEYED, MAX_QUEUED_BYTES: "4096", MAX_MESSAGE_BYTES: "8192" },
  });
  const token = await publisher();
  const data = "x".repeat(1000);
  for (let i = 0; i < 20; i++) {
    await publishOk(
      server,
      [["topic", "/big"], ["data", data], ["id", `big-${i}`]],
      token,
    );
  }
  await using client = await SseClient.open(
    subscribeUrl(server, "match=/big&last_event_id=earliest"),
  );
  await publishOk(
    server,
    [["topic", "/big"], ["data", "live"], ["id", "live"]],
    token,
  );
  const events = await client.collect(21, 10_000);
  assert.deepEqual(
    events.map((e) => e.id),
    [...Array.from({ length: 20 }, (_, i) => `big-${i}`), "live"],
  );
});

Deno.test("MERCURE_SUBSCRIPTIONS=1: streams announce themselves in private mercure updates, and the subscriptions API lists the active ones", async () => {
  await using server = await startServer({
    env: { ...KEYED, MERCURE_SUBSCRIPTIONS: "1" },
  });
  const watcher = await mint({ subscribe: ["*"] });
  await using watch = await SseClient.open(
    subscribeUrl(
      server,
      "match_urlpattern=" +
        encodeURIComponent("/.well-known/mercure/subscriptions/*"),
    ),
    { headers: { authorization: `Bearer ${watcher}` } },
  );
  await using anonymous = await SseClient.open(
    subscribeUrl(server, "match=*"),
  );
  const reader = await mint({
    subscribe: ["/books/1"],
    payload: { user: "alice" },
  });
  const book = await SseClient.open(subscribeUrl(server, "match=/books/1"), {
    headers: { authorization: `Bearer ${reader}` },
  });
  const seen = await watch.waitFor((e) => e.data.includes("/books/1"));
  const joined = JSON.parse(seen.at(-1)!.data);
  assert.equal(seen.at(-1)!.event, "mercure");
  assert.equal(joined.type, "subscription");
  assert.equal(joined.match_type, "exact");
  assert.equal(joined.match, "/books/1");
  assert.equal(joined.active, true);
  assert.deepEqual(joined.payload, { user: "alice" });
  assertSubscriptionId(joined.id, joined.subscriber);
  const list = await fetch(`${server.url}/.well-known/mercure/subscriptions`, {
    headers: { authorization: `Bearer ${watcher}` },
  });
  assert.equal(list.status, 200);
  assert.match(list.headers.get("link")!, /rel="mercure"; last-event-id=/);
  const collection = await list.json();
  assert.equal(collection.type, "Subscriptions");
  assert.ok(
    collection.subscriptions.some((s: { id: string }) => s.id === joined.id),
  );
  const single = await fetch(`${server.url}${joined.id}`, {
    headers: { authorization: `Bearer ${watcher}` },
  });
  assert.equal((await single.json()).subscriber, joined.subscriber);
  const refused = await fetch(`${server.url}${joined.id}`, {
    headers: { authorization: `Bearer ${reader}` },
  });
  assert.equal(refused.status, 403);
  await refused.body?.cancel();
  await book.close();
  const left = await watch.waitFor((e) =>
    e.data.includes(joined.id) && JSON.parse(e.data).active === false
  );
  assert.ok(left.length > 0);
  const gone = await fetch(`${server.url}${joined.id}`, {
    headers: { authorization: `Bearer ${watcher}` },
  });
  assert.equal(gone.status, 404);
  await gone.body?.cancel();
  // Subscription updates are private: an anonymous `*` stream never sees them.
  await assert.rejects(anonymous.next(300), /No event within/);
});

function assertSubscriptionId(id: string, subscriber: string): void {
  assert.equal(
    id,
    `/.well-known/mercure/subscriptions/exact/${
      encodeURIComponent("/books/1")
    }/${encodeURIComponent(subscriber)}`,
  );
  assert.match(subscriber, /^urn:uuid:[0-9a-f-]{36}$/);
}

Deno.test("the subscriptions API is 404 unless MERCURE_SUBSCRIPTIONS=1", async () => {
  await using server = await startServer({ env: KEYED });
  const response = await fetch(
    `${server.url}/.well-known/mercure/subscriptions`,
  );
  assert.equal(response.status, 404);
  await response.body?.cancel();
});

Deno.test("a page on an allowed origin may read Mercure-Last-Event-ID and Link", async () => {
  await using server = await startServer({
    env: {
      ...KEYED,
      ALLOWED_ORIGINS: "https://app.example",
      MERCURE_DISCOVERY_URL: "https://hub.example/.well-known/mercure",
    },
  });
  await using client = await SseClient.open(
    subscribeUrl(server, "match=*&last_event_id=earliest"),
    { headers: { origin: "https://app.example" } },
  );
  const exposed = (client.response.headers.get(
    "access-control-expose-headers",
  ) ?? "").split(",").map((name) => name.trim().toLowerCase());
  assert.ok(exposed.includes("mercure-last-event-id"), exposed.join());
  assert.ok(exposed.includes("link"), exposed.join());
  assert.equal(
    client.response.headers.get("mercure-last-event-id"),
    "earliest",
  );
});

Deno.test("Mercure streams count as clients: in /stats, the update event, /metrics and MAX_CLIENTS, with the endpoint's own share apart", async () => {
  await using server = await startServer({
    env: { ...KEYED, UPDATE_INTERVAL_MS: "50", MAX_CLIENTS: "3" },
  });
  await using _first = await SseClient.open(subscribeUrl(server, "match=*"));
  await using second = await SseClient.open(subscribeUrl(server, "match=/a"));
  await using herald = await SseClient.open(`${server.url}/events`);
  const stats = async () =>
    await (await fetch(`${server.url}/stats`)).json() as Record<
      string,
      unknown
    >;
  const counted = await stats();
  assert.equal(counted.clients, 3);
  assert.equal(counted.localClients, 3);
  assert.equal(counted.mercureClients, 2);
  const [update] = (await herald.waitFor((e) => e.event === "update", 5000))
    .slice(-1);
  assert.equal(JSON.parse(update!.data).clients, 3);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /^herald_streams\{isolate="[^"]*"\} 3$/m);
  assert.match(metrics, /^herald_mercure_streams\{isolate="[^"]*"\} 2$/m);
  assert.match(metrics, /^herald_streams_all 3$/m);
  // One limit for both endpoints.
  for (const path of [`${HUB}?match=*`, "/events"]) {
    const full = await fetch(`${server.url}${path}`);
    assert.equal(full.status, 503, path);
    await full.body?.cancel();
  }
  await second.close();
  await eventually(async () => (await stats()).mercureClients === 1);
  assert.equal((await stats()).clients, 2);
});

Deno.test("GET /.well-known/oauth-protected-resource/.well-known/mercure answers the hub's RFC 9728 metadata", async () => {
  const path = "/.well-known/oauth-protected-resource/.well-known/mercure";
  {
    await using server = await startServer({ env: KEYED });
    const response = await fetch(`${server.url}${path}`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type")!, /^application\/json/);
    assert.deepEqual(await response.json(), {
      resource: `${server.url}${HUB}`,
      bearer_methods_supported: ["header"],
      resource_name: "herald (Mercure hub)",
    });
  }
  await using server = await startServer({
    env: {
      ...KEYED,
      MERCURE_RESOURCE_IDENTIFIER: "https://hub.example/.well-known/mercure",
      MERCURE_TRUSTED_ISSUERS: "https://a.example,https://b.example",
      AUTH_QUERY: "true",
    },
  });
  const response = await fetch(`${server.url}${path}`);
  assert.deepEqual(await response.json(), {
    resource: "https://hub.example/.well-known/mercure",
    authorization_servers: ["https://a.example", "https://b.example"],
    bearer_methods_supported: ["header", "query"],
    resource_name: "herald (Mercure hub)",
  });
  const post = await fetch(`${server.url}${path}`, { method: "POST" });
  assert.equal(post.status, 405);
  await post.body?.cancel();
});
