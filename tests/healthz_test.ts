/** GET /healthz and GET /readyz over the real process, with Redis stopped and started again. */
import { createMemoryEngine } from "../engines/memory/engine.ts";
import assert from "node:assert/strict";
import { LocalBus } from "../lib/bus.ts";
import { loadConfig } from "../lib/config.ts";
import { createApp } from "../routes/app.ts";
import { startHerald } from "./_process.ts";
import { startRedis } from "./_redis.ts";
import { eventually } from "./_server.ts";

async function status(url: string): Promise<{ code: number; body: unknown }> {
  const response = await fetch(url);
  return { code: response.status, body: await response.json() };
}

Deno.test("GET /healthz and /readyz answer 200 with no auth, never cached, CORS as elsewhere", async () => {
  await using herald = await startHerald({
    env: { PUBLISH_TOKEN: "t0ken", ALLOWED_ORIGINS: "https://a.example" },
  });
  for (
    const [path, body] of [["/healthz", { status: "ok" }], ["/readyz", {
      status: "ready",
    }]] as const
  ) {
    const response = await fetch(`${herald.url}${path}`, {
      headers: { origin: "https://a.example" },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("cache-control"), "no-store");
    assert.equal(
      response.headers.get("access-control-allow-origin"),
      "https://a.example",
    );
    assert.deepEqual(await response.json(), body);
  }
});

Deno.test("GET /readyz answers 503 within a second of Redis stopping, and 200 once it is back", async () => {
  await using redis = await startRedis();
  await using herald = await startHerald({ env: { REDIS_URL: redis.url } });
  assert.equal((await status(`${herald.url}/readyz`)).code, 200);
  await redis.kill();
  const stoppedAt = Date.now();
  // A second on an idle machine; the wait allows for a loaded one.
  await eventually(
    async () => (await status(`${herald.url}/readyz`)).code === 503,
    5000,
    "/readyz 503",
  );
  const waited = Date.now() - stoppedAt;
  const down = await status(`${herald.url}/readyz`);
  assert.equal(down.code, 503);
  assert.deepEqual(down.body, {
    status: "unready",
    reason: "Redis is not connected",
  });
  // The process itself still answers.
  assert.equal((await status(`${herald.url}/healthz`)).code, 200);
  await redis.start();
  await eventually(
    async () => (await status(`${herald.url}/readyz`)).code === 200,
    15_000,
    "/readyz 200 again",
  );
  // deno-lint-ignore no-console
  console.log(`/readyz said 503 ${waited} ms after Redis was killed`);
});

Deno.test("GET /readyz answers 503 draining once the hub drains; /healthz still 200", async () => {
  const app = createApp(
    loadConfig({ UPDATE_INTERVAL_MS: "0", HEARTBEAT_MS: "0" }),
    {
      engine: createMemoryEngine({ bus: new LocalBus() }),
      readAsset: () => Promise.resolve(null),
    },
  );
  try {
    const ready = await app.fetch(new Request("http://h/readyz"));
    assert.equal(ready.status, 200);
    await ready.body?.cancel();
    app.drain();
    const draining = await app.fetch(new Request("http://h/readyz"));
    assert.equal(draining.status, 503);
    assert.deepEqual(await draining.json(), {
      status: "unready",
      reason: "draining",
    });
    const healthy = await app.fetch(new Request("http://h/healthz"));
    assert.equal(healthy.status, 200);
    await healthy.body?.cancel();
  } finally {
    await app.close();
  }
});
