/** Private topics over a real server: who may subscribe and publish, live and in replay. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { dataOf, SseClient, type SseEvent } from "./_sse_client.ts";
import { BroadcastChannelBus } from "../engines/memory/broadcast_channel_bus.ts";
import type { HubEvent } from "../lib/bus.ts";
import { eventually, startServer, type TestServer } from "./_server.ts";
import {
  forged,
  keyPair,
  mint,
  SECRET,
  type TestGrants,
  unsignedToken,
} from "./_tokens.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20261001) || 20261001;
const RUNS = Number(Deno.env.get("PRIVATE_RUNS") ?? 12);

const AUTH_ENV = { JWT_SECRET: SECRET };

function bearer(token: string): HeadersInit {
  return { authorization: `Bearer ${token}` };
}

function eventsUrl(server: TestServer, topics: readonly string[]): string {
  const query = topics.map((t) => `topic=${encodeURIComponent(t)}`).join("&");
  return `${server.url}/events?${query}`;
}

/** Publishes as the PUBLISH_TOKEN-less, JWT-enabled server wants: with a `*` publish token. */
async function publisher(): Promise<HeadersInit> {
  return bearer(await mint({ publish: ["*"] }));
}

/** Reads until the event with `id`, returning the messages of the events before it (ids only). */
async function readUntil(client: SseClient, id: string): Promise<SseEvent[]> {
  const seen = await client.waitFor((event) => event.id === id, 10_000);
  return seen.filter((event) => event.id !== undefined && event.id !== id);
}

Deno.test("GET /events delivers a private event only to streams whose token grants its topic", async () => {
  await using server = await startServer({ env: AUTH_ENV });
  const headers = await publisher();
  await using mine = await SseClient.open(
    eventsUrl(server, ["users/42/notes"]),
    {
      headers: bearer(await mint({ subscribe: ["users/42/*"] })),
    },
  );
  await using theirs = await SseClient.open(
    eventsUrl(server, ["users/42/notes"]),
    {
      headers: bearer(await mint({ subscribe: ["users/43/*"] })),
    },
  );
  await using anonymous = await SseClient.open(
    eventsUrl(server, ["users/42/notes"]),
  );
  for (const client of [mine, theirs, anonymous]) {
    assert.equal((await client.next()).event, "system");
  }
  const secret = await server.publish(
    { topic: "users/42/notes", message: "secret", private: true },
    headers,
  );
  assert.equal(secret.status, 202);
  const open = await server.publish({
    topic: "users/42/notes",
    message: "public",
  }, headers);
  assert.equal(open.status, 202);
  const [first, second] = await mine.collect(2);
  assert.equal(dataOf(first!).message, "secret");
  assert.equal(dataOf(second!).message, "public");
  for (const client of [theirs, anonymous]) {
    const [only] = await client.collect(1);
    assert.equal(dataOf(only!).message, "public");
    assert.equal(only!.id, open.json.id);
  }
});

Deno.test("GET /events replays private events after Last-Event-ID only to a token that grants them", async () => {
  await using server = await startServer({ env: AUTH_ENV });
  const headers = await publisher();
  const start = await server.publish(
    { topic: "jobs/7", message: "start" },
    headers,
  );
  await server.publish(
    { topic: "jobs/7", message: "p1", private: true },
    headers,
  );
  await server.publish({ topic: "jobs/7", message: "public" }, headers);
  await server.publish(
    { topic: "jobs/7", message: "p2", private: true },
    headers,
  );
  const end = await server.publish(
    { topic: "jobs/7", message: "end" },
    headers,
  );
  const replay = async (init: RequestInit) => {
    await using client = await SseClient.open(eventsUrl(server, ["jobs/7"]), {
      ...init,
      headers: { ...init.headers, "last-event-id": String(start.json.id) },
    });
    const seen = await client.waitFor((event) => event.id === end.json.id);
    const welcome = seen.find((event) => event.event === "system")!;
    return {
      messages: seen.filter((e) => e.id !== undefined).map((e) =>
        dataOf(e).message
      ),
      welcome: String(dataOf(welcome).message),
    };
  };
  const granted = await replay({
    headers: bearer(await mint({ subscribe: ["jobs/*"] })),
  });
  assert.deepEqual(granted.messages, ["p1", "public", "p2", "end"]);
  assert.match(granted.welcome, /replaying 4 missed events/);
  const other = await replay({
    headers: bearer(await mint({ subscribe: ["jobs/8"] })),
  });
  assert.deepEqual(other.messages, ["public", "end"]);
  assert.match(other.welcome, /replaying 2 missed events/);
  const anonymous = await replay({});
  assert.deepEqual(anonymous.messages, ["public", "end"]);
});

Deno.test("a stream receives an event iff it is public or its token grants the topic, live and on replay (property)", async () => {
  await using server = await startServer({ env: AUTH_ENV });
  const headers = await publisher();
  const TOPICS = ["a/1", "a/2", "b/1", "c"] as const;
  const SELECTORS = ["a/1", "a/2", "b/1", "c", "a/*", "b/:n", "*", "(a|c)/*"];
  const matches: Record<string, (topic: string) => boolean> = {
    "a/*": (t) => t.startsWith("a/"),
    "b/:n": (t) => /^b\/[^/]+$/.test(t),
    "*": () => true,
    "(a|c)/*": (t) => t.startsWith("a/"),
  };
  const grants = (selectors: readonly string[], topic: string) =>
    selectors.some((s) => (matches[s] ?? ((t: string) => t === s))(topic));
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({
          token: fc.option(fc.subarray(SELECTORS), { nil: null }),
          topics: fc.subarray([...TOPICS], { minLength: 1 }),
        }),
        { minLength: 1, maxLength: 4 },
      ),
      fc.array(
        fc.record({ topic: fc.constantFrom(...TOPICS), private: fc.boolean() }),
        { minLength: 1, maxLength: 12 },
      ),
      async (streams, events) => {
        // Each run has its own namespace, so earlier runs' history stays out.
        const ns = `run${run++}`;
        const fence = `${ns}/fence`;
        const name = (topic: string) => `${ns}/${topic}`;
        const clients: Array<
          { client: SseClient; headers: HeadersInit; topics: string[] }
        > = [];
        try {
          const start = await server.publish(
            { topic: fence, message: "start" },
            headers,
          );
          for (const stream of streams) {
            const tokenHeaders = stream.token === null ? {} : bearer(
              await mint({
                subscribe: stream.token.map((s) => `${ns}/${s}`),
              }),
            );
            const topics = [...stream.topics.map(name), fence];
            const client = await SseClient.open(eventsUrl(server, topics), {
              headers: tokenHeaders,
            });
            await client.waitFor((event) => event.event === "system");
            clients.push({ client, headers: tokenHeaders, topics });
          }
          const published: Array<
            { id: string; topic: string; private: boolean }
          > = [];
          for (const [i, event] of events.entries()) {
            const body = event.private
              ? { topic: name(event.topic), message: `m${i}`, private: true }
              : { topic: name(event.topic), message: `m${i}` };
            const answer = await server.publish(body, headers);
            assert.equal(answer.status, 202);
            published.push({ id: String(answer.json.id), ...event });
          }
          const end = await server.publish(
            { topic: fence, message: "end" },
            headers,
          );
          for (const [i, stream] of streams.entries()) {
            const expected = published.filter((event) =>
              stream.topics.includes(event.topic as typeof TOPICS[number]) &&
              (!event.private ||
                (stream.token !== null && grants(stream.token, event.topic)))
            ).map((event) => event.id);
            const { client, headers: tokenHeaders, topics } = clients[i]!;
            const live = (await readUntil(client, String(end.json.id))).map((
              e,
            ) => e.id);
            assert.deepEqual(live, expected, `live, stream ${i}`);
            await using replayed = await SseClient.open(
              eventsUrl(server, topics),
              {
                headers: {
                  ...tokenHeaders,
                  "last-event-id": String(start.json.id),
                },
              },
            );
            const again = (await readUntil(replayed, String(end.json.id))).map((
              e,
            ) => e.id);
            assert.deepEqual(again, expected, `replay, stream ${i}`);
          }
        } finally {
          for (const { client } of clients) await client.close();
        }
      },
    ),
    { seed: SEED, numRuns: RUNS },
  );
});

Deno.test("GET /events with SUBSCRIBE_AUTH=required answers 401 without a token and 403 for a topic not granted", async () => {
  await using server = await startServer({
    env: { ...AUTH_ENV, SUBSCRIBE_AUTH: "required" },
  });
  const none = await fetch(eventsUrl(server, ["users/42/notes"]));
  assert.equal(none.status, 401);
  assert.match(
    (await none.json()).error,
    /^Cannot subscribe: a token is required/,
  );
  assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer/);
  const token = await mint({ subscribe: ["users/42/*"] });
  const refused = await fetch(
    eventsUrl(server, ["users/42/notes", "users/43/notes"]),
    {
      headers: bearer(token),
    },
  );
  assert.equal(refused.status, 403);
  assert.equal(
    (await refused.json()).error,
    'Cannot subscribe to "users/43/notes": the token\'s mercure.subscribe does not grant it',
  );
  // Even the default topic needs a grant.
  const chat = await fetch(`${server.url}/events`, { headers: bearer(token) });
  assert.equal(chat.status, 403);
  await chat.body?.cancel();
  await using ok = await SseClient.open(eventsUrl(server, ["users/42/notes"]), {
    headers: bearer(token),
  });
  assert.equal((await ok.next()).event, "system");
});

Deno.test("GET /events refuses each bad token with 401 and delivers nothing", async () => {
  await using server = await startServer({
    env: {
      ...AUTH_ENV,
      JWT_ISSUER: "https://app.example",
      JWT_AUDIENCE: "herald",
    },
  });
  const good = { issuer: "https://app.example", audience: "herald" };
  const all: TestGrants = { subscribe: ["*"] };
  const valid = await mint(all, good);
  const cases: Array<[string, string, RegExp]> = [
    ["forged signature", forged(valid), /signature is not valid/],
    ["alg none", unsignedToken(all), /malformed|algorithm/],
    ["expired", await mint(all, { ...good, ttlSeconds: -60 }), /expired/],
    [
      "nbf in the future",
      await mint(all, { ...good, nbfSeconds: 120 }),
      /not valid yet/,
    ],
    ["no exp", await mint(all, { ...good, ttlSeconds: null }), /no exp/],
    [
      "wrong issuer",
      await mint(all, { ...good, issuer: "https://evil.example" }),
      /wrong issuer/,
    ],
    [
      "wrong audience",
      await mint(all, { ...good, audience: "other" }),
      /wrong audience/,
    ],
    ["malformed", "not-a-token", /malformed/],
  ];
  for (const [what, token, reason] of cases) {
    const response = await fetch(eventsUrl(server, ["t"]), {
      headers: bearer(token),
    });
    assert.equal(response.status, 401, what);
    const body = await response.json();
    assert.match(body.error, /^Cannot subscribe: /, what);
    assert.match(body.error, reason, what);
  }
  const basic = await fetch(eventsUrl(server, ["t"]), {
    headers: { authorization: "Basic dTpw" },
  });
  assert.equal(basic.status, 401);
  await basic.body?.cancel();
  // The same bad tokens in the cookie are refused too.
  const cookie = await fetch(eventsUrl(server, ["t"]), {
    headers: { cookie: `mercureAuthorization=${forged(valid)}` },
  });
  assert.equal(cookie.status, 401);
  await cookie.body?.cancel();
  assert.equal(server.app.hub.stats().localClients, 0, "no stream was opened");
});

Deno.test("GET /events takes the token from the mercureAuthorization cookie, the header winning over it", async () => {
  await using server = await startServer({ env: AUTH_ENV });
  const headers = await publisher();
  const a = await mint({ subscribe: ["a"] });
  const b = await mint({ subscribe: ["b"] });
  await using byCookie = await SseClient.open(eventsUrl(server, ["a", "b"]), {
    headers: { cookie: `other=1; mercureAuthorization=${a}` },
  });
  await using both = await SseClient.open(eventsUrl(server, ["a", "b"]), {
    headers: { cookie: `mercureAuthorization=${a}`, ...bearer(b) },
  });
  await byCookie.waitFor((e) => e.event === "system");
  await both.waitFor((e) => e.event === "system");
  const pa = await server.publish(
    { topic: "a", message: "A", private: true },
    headers,
  );
  const pb = await server.publish(
    { topic: "b", message: "B", private: true },
    headers,
  );
  assert.deepEqual((await byCookie.collect(1)).map((e) => e.id), [pa.json.id]);
  assert.deepEqual((await both.collect(1)).map((e) => e.id), [pb.json.id]);
});

Deno.test("GET /events reads AUTH_COOKIE, and a query token only with AUTH_QUERY=true", async () => {
  const token = await mint({ subscribe: ["t"] });
  {
    await using server = await startServer({
      env: {
        ...AUTH_ENV,
        SUBSCRIBE_AUTH: "required",
        AUTH_COOKIE: "herald_jwt",
      },
    });
    const wrongCookie = await fetch(eventsUrl(server, ["t"]), {
      headers: { cookie: `mercureAuthorization=${token}` },
    });
    assert.equal(wrongCookie.status, 401, "the cookie has another name");
    await wrongCookie.body?.cancel();
    const inQuery = await fetch(
      `${eventsUrl(server, ["t"])}&authorization=${token}`,
    );
    assert.equal(inQuery.status, 401, "the query is not read unless enabled");
    await inQuery.body?.cancel();
    await using ok = await SseClient.open(eventsUrl(server, ["t"]), {
      headers: { cookie: `herald_jwt=${token}` },
    });
    assert.equal((await ok.next()).event, "system");
  }
  {
    await using server = await startServer({
      env: { ...AUTH_ENV, SUBSCRIBE_AUTH: "required", AUTH_QUERY: "true" },
    });
    await using ok = await SseClient.open(
      `${eventsUrl(server, ["t"])}&authorization=${token}`,
    );
    assert.equal((await ok.next()).event, "system");
  }
});

Deno.test("GET /events ends a stream at its token's exp with a short retry; a replay with another token shows none of the first one's private events", async () => {
  await using server = await startServer({ env: AUTH_ENV });
  const headers = await publisher();
  const exp = Math.floor(Date.now() / 1000) + 2;
  const short = await mint({ subscribe: ["a", "b"] }, { exp });
  await using first = await SseClient.open(eventsUrl(server, ["a", "b"]), {
    headers: bearer(short),
  });
  await first.waitFor((e) => e.event === "system");
  const pa = await server.publish({
    topic: "a",
    message: "for a",
    private: true,
  }, headers);
  assert.deepEqual((await first.collect(1)).map((e) => e.id), [pa.json.id]);
  assert.ok(await first.ended(10_000), "the stream ends at exp");
  assert.ok(Date.now() >= exp * 1000 - 50, "not before exp");
  assert.ok(first.retries.includes(500), `retries: ${first.retries}`);
  const pb = await server.publish({
    topic: "b",
    message: "for b",
    private: true,
  }, headers);
  const open = await server.publish({ topic: "a", message: "public" }, headers);
  const onlyB = await mint({ subscribe: ["b"] });
  await using second = await SseClient.open(eventsUrl(server, ["a", "b"]), {
    headers: { ...bearer(onlyB), "last-event-id": String(pa.json.id) },
  });
  const seen = await second.waitFor((e) => e.id === open.json.id);
  assert.deepEqual(seen.filter((e) => e.id !== undefined).map((e) => e.id), [
    pb.json.id,
    open.json.id,
  ]);
});

Deno.test("POST /message with a JWT publishes to the topics its mercure.publish grants, 403 otherwise, nothing dispatched", async () => {
  await using server = await startServer({
    env: { ...AUTH_ENV, PUBLISH_TOKEN: "simple-token" },
  });
  await using watcher = await SseClient.open(
    eventsUrl(server, ["users/42/x", "users/43/x"]),
    {
      headers: bearer(await mint({ subscribe: ["*"] })),
    },
  );
  await watcher.waitFor((e) => e.event === "system");
  const mine = bearer(await mint({ publish: ["users/42/*"] }));
  const denied = await server.publish({
    topic: "users/43/x",
    message: "no",
    private: true,
  }, mine);
  assert.equal(denied.status, 403);
  assert.equal(
    denied.json.error,
    'Cannot publish to "users/43/x": the token\'s mercure.publish does not grant it',
  );
  const subscribeOnly = bearer(await mint({ subscribe: ["*"] }));
  assert.equal(
    (await server.publish(
      { topic: "users/42/x", message: "no" },
      subscribeOnly,
    )).status,
    403,
  );
  const expired = bearer(await mint({ publish: ["*"] }, { ttlSeconds: -60 }));
  const late = await server.publish(
    { topic: "users/42/x", message: "no" },
    expired,
  );
  assert.equal(late.status, 401);
  assert.match(
    String(late.json.error),
    /^Cannot publish: the token has expired/,
  );
  assert.equal(
    (await server.publish({ topic: "users/42/x", message: "no" })).status,
    401,
  );
  assert.equal(
    (await server.publish(
      { topic: "users/42/x", message: "no" },
      bearer(forged(await mint({ publish: ["*"] }))),
    )).status,
    401,
  );
  const ok = await server.publish({
    topic: "users/42/x",
    message: "yes",
    private: true,
  }, mine);
  assert.equal(ok.status, 202);
  const simple = await server.publish({
    topic: "users/43/x",
    message: "simple",
  }, bearer("simple-token"));
  assert.equal(simple.status, 202, "PUBLISH_TOKEN still publishes anywhere");
  const got = await watcher.collect(2);
  assert.deepEqual(
    got.map((e) => e.id),
    [ok.json.id, simple.json.id],
    "the refused ones were never dispatched",
  );
});

Deno.test("POST /message refuses private: true when no token key is configured", async () => {
  await using server = await startServer();
  const answer = await server.publish({ message: "x", private: true });
  assert.equal(answer.status, 400);
  assert.match(String(answer.json.error), /^Cannot publish a private event/);
  assert.equal(
    (await server.publish({ message: "x", private: "yes" })).status,
    400,
  );
});

Deno.test("GET /stats reveals no private topic name", async () => {
  await using server = await startServer({ env: AUTH_ENV });
  await using client = await SseClient.open(
    eventsUrl(server, ["users/42/secret-project"]),
    {
      headers: bearer(await mint({ subscribe: ["users/42/*"] })),
    },
  );
  await client.waitFor((e) => e.event === "system");
  await server.publish(
    { topic: "users/42/secret-project", message: "x", private: true },
    await publisher(),
  );
  await client.collect(1);
  const text = await (await fetch(`${server.url}/stats`)).text();
  assert.ok(!text.includes("secret-project"), text);
  assert.ok(!text.includes("users/42"), text);
});

Deno.test("CORS with tokens on: a listed origin may send cookies (Allow-Credentials: true), never with *", async () => {
  {
    await using server = await startServer({
      env: { ...AUTH_ENV, ALLOWED_ORIGINS: "https://app.example" },
    });
    const preflight = await fetch(`${server.url}/events`, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "GET",
      },
    });
    await preflight.body?.cancel();
    assert.equal(
      preflight.headers.get("access-control-allow-origin"),
      "https://app.example",
    );
    assert.equal(
      preflight.headers.get("access-control-allow-credentials"),
      "true",
    );
    const stranger = await fetch(`${server.url}/stats`, {
      headers: { origin: "https://evil.example" },
    });
    await stranger.body?.cancel();
    assert.equal(stranger.headers.get("access-control-allow-origin"), null);
    assert.equal(
      stranger.headers.get("access-control-allow-credentials"),
      null,
    );
  }
  {
    await using server = await startServer({ env: AUTH_ENV });
    const response = await fetch(`${server.url}/stats`, {
      headers: { origin: "https://app.example" },
    });
    await response.body?.cancel();
    assert.equal(response.headers.get("access-control-allow-origin"), "*");
    assert.equal(
      response.headers.get("access-control-allow-credentials"),
      null,
    );
  }
});

Deno.test("GET /events with JWT_PUBLIC_KEY refuses algorithm confusion (HS256 signed with the public key) and alg none", async () => {
  const pair = await keyPair("RS256");
  await using server = await startServer({
    env: { JWT_PUBLIC_KEY: pair.pem, SUBSCRIBE_AUTH: "required" },
  });
  const all: TestGrants = { subscribe: ["*"] };
  for (const secret of [pair.pem, `${pair.pem}\n`, JSON.stringify(pair.jwk)]) {
    const token = await mint(
      all,
      { alg: "HS256" },
      new TextEncoder().encode(secret),
    );
    const response = await fetch(eventsUrl(server, ["t"]), {
      headers: bearer(token),
    });
    assert.equal(response.status, 401);
    assert.match((await response.json()).error, /algorithm is not allowed/);
  }
  const none = await fetch(eventsUrl(server, ["t"]), {
    headers: bearer(unsignedToken(all)),
  });
  assert.equal(none.status, 401);
  await none.body?.cancel();
  await using ok = await SseClient.open(eventsUrl(server, ["t"]), {
    headers: bearer(await mint(all, { alg: "RS256" }, pair.privateKey)),
  });
  assert.equal((await ok.next()).event, "system");
});

Deno.test("BroadcastChannelBus carries the private flag to the other isolates; public events stay without it", async () => {
  const channel = `test-${crypto.randomUUID()}`;
  const a = new BroadcastChannelBus({
    channel,
    instance: "a",
    joinMs: 0,
    presenceMs: 50,
  });
  const b = new BroadcastChannelBus({
    channel,
    instance: "b",
    joinMs: 0,
    presenceMs: 50,
  });
  const seen: HubEvent[] = [];
  b.subscribe((event) => seen.push(event));
  try {
    await eventually(() => b.presence().instances === 2, 5000, "the peer");
    await a.publish({
      topic: "t",
      event: "chat",
      data: '"secret"',
      private: true,
    });
    await a.publish({ topic: "t", event: "chat", data: '"open"' });
    await eventually(() => seen.length === 2, 5000, "both events on b");
    assert.equal(seen[0]!.private, true);
    assert.ok(!("private" in seen[1]!));
  } finally {
    await a.close();
    await b.close();
  }
});
