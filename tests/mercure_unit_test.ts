/** Unit tests of lib/mercure/: URI templates, selectors, config names, draft-08 grants. */
import assert from "node:assert/strict";
import { grantsOf } from "../lib/auth/grants.ts";
import { LocalBus } from "../lib/bus.ts";
import { loadConfig } from "../lib/config.ts";
import {
  readMercureConfig,
  readTokenSettings,
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

Deno.test("readTokenSettings() maps Mercure's variables to herald's, refusing conflicts", () => {
  const key = "k".repeat(32);
  const { auth, publisherAuth } = readTokenSettings({
    MERCURE_PUBLISHER_JWT_KEY: key,
    MERCURE_SUBSCRIBER_JWT_KEY: key,
    MERCURE_PUBLISHER_JWT_ALG: "HS256",
    MERCURE_TRUSTED_ISSUERS: "https://app.example",
    MERCURE_RESOURCE_IDENTIFIER: "https://hub.example",
  });
  assert.equal(publisherAuth, null, "one key verifies everyone");
  assert.equal(auth.keys?.kind, "secret");
  assert.equal(auth.keyVariable, "MERCURE_PUBLISHER_JWT_KEY");
  assert.deepEqual(auth.algorithms, ["HS256"]);
  assert.deepEqual(auth.issuers, ["https://app.example"]);
  assert.equal(auth.audience, "https://hub.example");
  const pem = readTokenSettings({
    MERCURE_SUBSCRIBER_JWT_KEY: "-----BEGIN PUBLIC KEY-----\\nabc",
  });
  assert.equal(pem.auth.keys?.kind, "publicKey");
  assert.equal(pem.auth.keyVariable, "MERCURE_SUBSCRIBER_JWT_KEY");
  assert.throws(
    () =>
      readTokenSettings({ MERCURE_PUBLISHER_JWT_KEY: key, JWT_SECRET: key }),
    /Cannot read MERCURE_PUBLISHER_JWT_KEY: JWT_SECRET is set too/,
  );
  assert.throws(
    () => readTokenSettings({ MERCURE_PUBLISHER_JWT_KEY: key, JWKS_URL: "x" }),
    /Cannot read MERCURE_PUBLISHER_JWT_KEY: JWKS_URL is set too/,
  );
  const config = loadConfig({ MERCURE_PUBLISHER_JWT_KEY: key });
  assert.equal(config.auth.keys?.kind, "secret");
  assert.equal(config.publisherAuth, null);
  assert.throws(
    () => loadConfig({ MERCURE_PUBLISHER_JWT_KEY: "short" }),
    /Cannot read MERCURE_PUBLISHER_JWT_KEY: it is 5 bytes/,
  );
});

Deno.test("readTokenSettings() reads two different keys as a publishers' and a subscribers', each with its algorithm", () => {
  const publisher = "p".repeat(32);
  const pem = "-----BEGIN PUBLIC KEY-----\\nabc\\n-----END PUBLIC KEY-----";
  const { auth, publisherAuth } = readTokenSettings({
    MERCURE_PUBLISHER_JWT_KEY: publisher,
    MERCURE_PUBLISHER_JWT_ALG: "HS512",
    MERCURE_SUBSCRIBER_JWT_KEY: pem,
    MERCURE_SUBSCRIBER_JWT_ALG: "ES256",
    MERCURE_TRUSTED_ISSUERS: " https://a.example , https://b.example,",
    SUBSCRIBE_AUTH: "required",
  });
  assert.equal(auth.keys?.kind, "publicKey");
  assert.deepEqual(auth.algorithms, ["ES256"]);
  assert.equal(auth.subscribe, "required");
  assert.equal(auth.keyVariable, "MERCURE_SUBSCRIBER_JWT_KEY");
  assert.equal(publisherAuth?.keys?.kind, "secret");
  assert.deepEqual(publisherAuth?.algorithms, ["HS512"]);
  assert.equal(publisherAuth?.keyVariable, "MERCURE_PUBLISHER_JWT_KEY");
  for (const side of [auth, publisherAuth!]) {
    assert.deepEqual(side.issuers, ["https://a.example", "https://b.example"]);
  }
  // Each key's errors name its own variables.
  const refusals: Array<[Record<string, string>, RegExp]> = [
    [
      { MERCURE_PUBLISHER_JWT_KEY: "short", MERCURE_SUBSCRIBER_JWT_KEY: pem },
      /Cannot read MERCURE_PUBLISHER_JWT_KEY: it is 5 bytes/,
    ],
    [
      {
        MERCURE_PUBLISHER_JWT_KEY: publisher,
        MERCURE_SUBSCRIBER_JWT_KEY: "-----BEGIN PRIVATE KEY-----\\nabc",
      },
      /Cannot read MERCURE_SUBSCRIBER_JWT_KEY: it is neither a PEM/,
    ],
    [
      {
        MERCURE_PUBLISHER_JWT_KEY: publisher,
        MERCURE_PUBLISHER_JWT_ALG: "RS256",
        MERCURE_SUBSCRIBER_JWT_KEY: pem,
      },
      /Cannot read MERCURE_PUBLISHER_JWT_ALG: "RS256" does not go with MERCURE_PUBLISHER_JWT_KEY/,
    ],
    [
      {
        MERCURE_PUBLISHER_JWT_KEY: publisher,
        MERCURE_SUBSCRIBER_JWT_KEY: pem,
        MERCURE_SUBSCRIBER_JWT_ALG: "none",
      },
      /Cannot read MERCURE_SUBSCRIBER_JWT_ALG: "none" is not an algorithm/,
    ],
    [
      {
        MERCURE_PUBLISHER_JWT_KEY: publisher,
        MERCURE_SUBSCRIBER_JWT_KEY: pem,
        JWT_PUBLIC_KEY: pem,
      },
      /Cannot read MERCURE_SUBSCRIBER_JWT_KEY: JWT_PUBLIC_KEY is set too/,
    ],
    [
      { MERCURE_TRUSTED_ISSUERS: " , " },
      /Cannot read MERCURE_TRUSTED_ISSUERS: it names no issuer/,
    ],
    [
      { MERCURE_TRUSTED_ISSUERS: "a", JWT_ISSUER: "b" },
      /Cannot read MERCURE_TRUSTED_ISSUERS: JWT_ISSUER is set too/,
    ],
  ];
  for (const [env, message] of refusals) {
    assert.throws(() => readTokenSettings(env), message, JSON.stringify(env));
  }
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
