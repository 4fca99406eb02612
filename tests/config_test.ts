import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../lib/config.ts";

Deno.test("loadConfig() gives the contract's defaults for an empty environment", () => {
  const config = loadConfig({});
  assert.deepEqual(
    { ...config },
    {
      port: 8000,
      hostname: "0.0.0.0",
      updateIntervalMs: 3000,
      heartbeatMs: 15000,
      retryMs: 5000,
      historySize: 1000,
      historyMaxBytes: 64 * 1024 * 1024,
      publishToken: null,
      allowedOrigins: "*",
      maxMessageBytes: 65536,
      maxClients: 10000,
      maxTopicsPerStream: 16,
      maxQueuedBytes: 256 * 1024,
      redisUrl: null,
      engine: "memory",
      kvPath: null,
      historyMaxAgeMs: 0,
      auth: {
        keys: null,
        algorithms: [],
        issuers: [],
        audience: null,
        subscribe: "optional",
        cookie: "mercureAuthorization",
        queryToken: false,
        keyVariable: "",
      },
      publisherAuth: null,
      metricsToken: null,
      mercure: { anonymous: false, discoveryUrl: null, subscriptions: false },
    },
  );
  assert.ok(Object.isFrozen(config));
});

Deno.test("loadConfig() reads every variable", () => {
  const config = loadConfig({
    PORT: "9000",
    HOSTNAME: "127.0.0.1",
    UPDATE_INTERVAL_MS: "0",
    HEARTBEAT_MS: "100",
    RETRY_MS: "250",
    HISTORY_SIZE: "0",
    PUBLISH_TOKEN: "s3cret-token",
    ALLOWED_ORIGINS: "https://a.example, http://localhost:3000",
    MAX_MESSAGE_BYTES: "1024",
    MAX_CLIENTS: "5",
    MAX_TOPICS_PER_STREAM: "2",
    MAX_QUEUED_BYTES: "2048",
    REDIS_URL: "redis://127.0.0.1:6379",
  });
  assert.equal(config.port, 9000);
  assert.equal(config.updateIntervalMs, 0);
  assert.equal(config.publishToken, "s3cret-token");
  assert.deepEqual(config.allowedOrigins, [
    "https://a.example",
    "http://localhost:3000",
  ]);
  assert.equal(config.maxTopicsPerStream, 2);
  assert.equal(config.redisUrl, "redis://127.0.0.1:6379");
});

const BAD: Array<[Record<string, string>, string]> = [
  [{ PORT: "abc" }, 'Cannot read PORT: "abc" is not a port number'],
  [{ PORT: "70000" }, 'Cannot read PORT: "70000" is not a port number'],
  [{ PORT: "-1" }, 'Cannot read PORT: "-1" is not a port number'],
  [
    { HISTORY_SIZE: "-1" },
    'Cannot read HISTORY_SIZE: "-1" is not a non-negative integer',
  ],
  [
    { HEARTBEAT_MS: "1.5" },
    'Cannot read HEARTBEAT_MS: "1.5" is not a non-negative integer',
  ],
  [
    { UPDATE_INTERVAL_MS: "soon" },
    'Cannot read UPDATE_INTERVAL_MS: "soon" is not a non-negative integer',
  ],
  [
    { MAX_CLIENTS: "0" },
    "Cannot read MAX_CLIENTS: 0 is not between 1 and 10000000",
  ],
  [
    { MAX_MESSAGE_BYTES: "" },
    'Cannot read MAX_MESSAGE_BYTES: "" is not a non-negative integer',
  ],
  [
    { ALLOWED_ORIGINS: "example.com" },
    'Cannot read ALLOWED_ORIGINS: "example.com" is not an origin like https://example.com',
  ],
  [
    { ALLOWED_ORIGINS: "https://a.example/path" },
    'Cannot read ALLOWED_ORIGINS: "https://a.example/path" is not an origin like https://example.com',
  ],
  [
    { ALLOWED_ORIGINS: "https://a.example,,*" },
    'Cannot read ALLOWED_ORIGINS: "" is not an origin like https://example.com',
  ],
  [
    { PUBLISH_TOKEN: "" },
    "Cannot read PUBLISH_TOKEN: it is empty; unset it to let anyone publish",
  ],
  [
    { PUBLISH_TOKEN: "has space" },
    "Cannot read PUBLISH_TOKEN: it must be visible ASCII with no spaces",
  ],
  [
    { REDIS_URL: "http://x" },
    "Cannot read REDIS_URL: it is not a redis:// or rediss:// URL",
  ],
  [
    { HOSTNAME: "bad host" },
    'Cannot read HOSTNAME: "bad host" is not a host name or address',
  ],
];

for (const [env, message] of BAD) {
  Deno.test(`loadConfig() refuses ${JSON.stringify(env)} naming the variable`, () => {
    assert.throws(() => loadConfig(env), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.message, message);
      return true;
    });
  });
}

Deno.test("loadConfig() never echoes the token in an error", () => {
  assert.throws(
    () => loadConfig({ PUBLISH_TOKEN: "secret value" }),
    (error: unknown) => {
      assert.ok(error instanceof Error && !error.message.includes("secret"));
      return true;
    },
  );
});

Deno.test("loadConfig() picks the engine from REDIS_URL, KV_PATH or ENGINE, and refuses both URLs or an unknown name", () => {
  assert.equal(loadConfig({ KV_PATH: "./h.kv" }).engine, "kv");
  assert.equal(
    loadConfig({ REDIS_URL: "redis://127.0.0.1:6379" }).engine,
    "redis",
  );
  assert.deepEqual(
    [loadConfig({ ENGINE: "kv" }).engine, loadConfig({ ENGINE: "kv" }).kvPath],
    ["kv", null],
  );
  assert.throws(
    () => loadConfig({ KV_PATH: "a", REDIS_URL: "redis://127.0.0.1:1" }),
    /Cannot read REDIS_URL and KV_PATH/,
  );
  assert.throws(() => loadConfig({ ENGINE: "mongo" }), /Cannot read ENGINE/);
  assert.throws(() => loadConfig({ ENGINE: "redis" }), /needs REDIS_URL/);
});
