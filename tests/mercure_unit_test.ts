/** Unit tests of lib/mercure/: URI templates, selectors, config names, draft-08 grants. */
import assert from "node:assert/strict";
import { grantsOf } from "../lib/auth/grants.ts";
import { LocalBus } from "../lib/bus.ts";
import { loadConfig } from "../lib/config.ts";
import {
  readMercureConfig,
  withMercureNames,
} from "../lib/mercure/mercure_config.ts";
import { MercureHub } from "../lib/mercure/mercure_hub.ts";
import { compileMercureSelector } from "../lib/mercure/selector.ts";
import { compileUriTemplate } from "../lib/mercure/uri_template.ts";
import { readUntil } from "./_stream_text.ts";

const BASE = "https://hub.example/.well-known/mercure";

Deno.test("compileUriTemplate() matches what each RFC 6570 operator expands to, and no more", () => {
  const cases: Array<[string, string[], string[]]> = [
    ["https://example.com/books/{id}", [
      "https://example.com/books/1",
      "https://example.com/books/a%2Fb",
      "https://example.com/books/",
    ], [
      "https://example.com/books/1/reviews",
      "https://example.com/books/1?x",
      "https://example.com/users/1",
    ]],
    ["/files{/path*}", ["/files", "/files/a/b"], ["/filesx", "/files/a?b"]],
    ["/s/{+rest}", ["/s/a/b?c=d"], ["/t/a"]],
    ["/q{?a,b}", ["/q", "/q?a=1&b=2"], ["/q/1"]],
    ["/q?x=1{&a}", ["/q?x=1", "/q?x=1&a=2"], ["/q?x=2"]],
    ["/f{#frag}", ["/f", "/f#a/b"], ["/f/a"]],
    ["/l{.ext}", ["/l", "/l.json"], ["/l/json"]],
    ["/m{;p,q}", ["/m;p=1;q=2"], ["/m/1"]],
    ["/{a}.{b}", ["/x.y"], ["/x/y"]],
    ["/lit.(x)+[y]/{a}", ["/lit.(x)+[y]/1"], ["/litX(x)+[y]/1"]],
  ];
  for (const [template, yes, no] of cases) {
    const match = compileUriTemplate(template);
    assert.ok(match !== null, template);
    for (const topic of yes) assert.ok(match(topic), `${template} ~ ${topic}`);
    for (const topic of no) assert.ok(!match(topic), `${template} !~ ${topic}`);
  }
});

Deno.test("compileUriTemplate() reads a template of more than 16 expressions as an exact topic", () => {
  assert.ok(compileUriTemplate("/" + "{a}".repeat(16)) !== null);
  assert.equal(compileUriTemplate("/" + "{a}".repeat(17)), null);
});

Deno.test("compileUriTemplate() returns null for no expression or an invalid template", () => {
  for (
    const text of [
      "/plain",
      "/a{",
      "/a}{b}",
      "/{}",
      "/{a b}",
      "/{=a}",
      "/{a:0}",
    ]
  ) {
    assert.equal(compileUriTemplate(text), null, text);
  }
});

Deno.test("compileUriTemplate() answers a template of many adjacent expressions without backtracking", () => {
  // A backtracking regular expression would take exponential time here.
  const match = compileUriTemplate("/" + "{a}{.b}".repeat(8))!;
  assert.equal(match("/" + "a.".repeat(1000) + "!"), false);
  assert.equal(match("/" + "a.".repeat(1000)), true);
});

Deno.test("compileMercureSelector() reads exact, urlpattern and template selectors, and * for all", () => {
  const exact = compileMercureSelector(
    { match: "/a/{id}", type: "exact" },
    BASE,
  );
  assert.ok(exact("/a/{id}") && !exact("/a/1"));
  const all = compileMercureSelector({ match: "*", type: "exact" }, BASE);
  assert.ok(all("anything at all"));
  const pattern = compileMercureSelector(
    { match: "/a/:id", type: "urlpattern" },
    BASE,
  );
  assert.ok(pattern("https://hub.example/a/1") && pattern("/a/1"));
  assert.ok(!pattern("https://other.example/a/1"));
  const template = compileMercureSelector(
    { match: "/a/{id}", type: "template" },
    BASE,
  );
  assert.ok(template("/a/1") && !template("/a/1/2"));
  assert.throws(
    () => compileMercureSelector({ match: "((", type: "urlpattern" }, BASE),
    /Cannot use selector/,
  );
});

Deno.test("withMercureNames() maps Mercure's variables to herald's, refusing conflicts and two keys", () => {
  const key = "k".repeat(32);
  const env = withMercureNames({
    MERCURE_PUBLISHER_JWT_KEY: key,
    MERCURE_SUBSCRIBER_JWT_KEY: key,
    MERCURE_PUBLISHER_JWT_ALG: "HS256",
    MERCURE_TRUSTED_ISSUERS: "https://app.example",
    MERCURE_RESOURCE_IDENTIFIER: "https://hub.example",
  });
  assert.equal(env.JWT_SECRET, key);
  assert.equal(env.JWT_ALGORITHMS, "HS256");
  assert.equal(env.JWT_ISSUER, "https://app.example");
  assert.equal(env.JWT_AUDIENCE, "https://hub.example");
  const pem = withMercureNames({
    MERCURE_SUBSCRIBER_JWT_KEY: "-----BEGIN PUBLIC KEY-----\\nabc",
  });
  assert.equal(pem.JWT_PUBLIC_KEY, "-----BEGIN PUBLIC KEY-----\\nabc");
  assert.throws(
    () =>
      withMercureNames({
        MERCURE_PUBLISHER_JWT_KEY: key,
        MERCURE_SUBSCRIBER_JWT_KEY: key + "x",
      }),
    /Cannot read MERCURE_SUBSCRIBER_JWT_KEY: herald verifies/,
  );
  assert.throws(
    () => withMercureNames({ MERCURE_PUBLISHER_JWT_KEY: key, JWT_SECRET: key }),
    /Cannot read MERCURE_PUBLISHER_JWT_KEY: JWT_SECRET is set too/,
  );
  assert.throws(
    () => withMercureNames({ MERCURE_TRUSTED_ISSUERS: "a,b" }),
    /exactly one/,
  );
  const config = loadConfig({ MERCURE_PUBLISHER_JWT_KEY: key });
  assert.equal(config.auth.keys?.kind, "secret");
  assert.throws(
    () => loadConfig({ MERCURE_PUBLISHER_JWT_KEY: "short" }),
    /Cannot read JWT_SECRET: it is 5 bytes/,
  );
});

Deno.test("readMercureConfig() reads MERCURE_ANONYMOUS and MERCURE_DISCOVERY_URL", () => {
  assert.deepEqual(readMercureConfig({}), {
    anonymous: false,
    discoveryUrl: null,
    subscriptions: false,
  });
  assert.equal(
    readMercureConfig({ MERCURE_SUBSCRIPTIONS: "1" }).subscriptions,
    true,
  );
  assert.equal(readMercureConfig({ MERCURE_ANONYMOUS: "1" }).anonymous, true);
  assert.throws(
    () => readMercureConfig({ MERCURE_ANONYMOUS: "yes" }),
    /Cannot read MERCURE_ANONYMOUS/,
  );
  assert.throws(
    () => readMercureConfig({ MERCURE_DISCOVERY_URL: "ftp://x" }),
    /Cannot read MERCURE_DISCOVERY_URL/,
  );
  assert.throws(
    () => loadConfig({ MERCURE_DISCOVERY_URL: "https://x/>; rel=evil" }),
    /Cannot read MERCURE_DISCOVERY_URL/,
  );
});

Deno.test("grantsOf() reads draft-08 authorization_details and refuses a malformed Mercure entry", () => {
  const type = "https://mercure.rocks/authorization-detail";
  const grants = grantsOf({
    exp: 2e9,
    authorization_details: [
      { type: "https://other.example/detail", anything: true },
      {
        type,
        actions: ["subscribe"],
        topics: [{ match: "/a/1" }, {
          match: "/b/:id",
          match_type: "urlpattern",
        }],
        payload: { user: 1 },
      },
      { type, actions: ["publish"], topics: [{ match: "*" }] },
    ],
  });
  assert.deepEqual(grants.subscribeSelectors, [
    { match: "/a/1", type: "exact" },
    { match: "/b/:id", type: "urlpattern" },
  ]);
  assert.deepEqual(grants.payload, { user: 1 });
  assert.ok(grants.mayPublish("anything") && grants.maySubscribe("/a/1"));
  assert.ok(!grants.maySubscribe("/a/2"));
  for (
    const bad of [
      "nope",
      [{ type, actions: [], topics: [] }],
      [{ type, actions: ["delete"], topics: [] }],
      [{ type, actions: ["publish"] }],
      [{ type, actions: ["publish"], topics: [{ match: 1 }] }],
      [{
        type,
        actions: ["publish"],
        topics: [{ match: "/a", match_type: "regex" }],
      }],
    ]
  ) {
    assert.throws(
      () => grantsOf({ exp: 2e9, authorization_details: bad }),
      /authorization_details/,
      JSON.stringify(bad),
    );
  }
});

Deno.test("MercureHub keeps its replay log within historyMaxBytes, however large the updates", async () => {
  const bus = new LocalBus("a");
  const hub = new MercureHub(bus, {
    heartbeatMs: 0,
    historySize: 1000,
    // About three updates of 10,000 characters (each counted at ~50 kB).
    historyMaxBytes: 160_000,
  });
  try {
    const pad = "x".repeat(10_000);
    for (let i = 0; i < 10; i++) {
      await bus.publish({ topic: "t", event: "chat", data: `${i}:${pad}` });
    }
    const { stream } = await hub.subscribe({
      matches: () => true,
      mayRead: () => true,
      lastEventId: "earliest",
    });
    const reader = stream.getReader();
    await bus.publish({ topic: "t", event: "chat", data: "marker" });
    const text = await readUntil(reader, (t) => t.includes("data: marker"));
    const replayed = [...text.matchAll(/^data: (\d+):/gm)].map((m) => m[1]);
    assert.deepEqual(replayed, ["7", "8", "9"], "only the newest that fit");
    await reader.cancel();
  } finally {
    hub.close();
  }
});
