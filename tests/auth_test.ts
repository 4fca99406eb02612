/** Publish auth: the token comparison, and that a token never reaches a log line. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { createDenoAssetReader } from "../adapters/deno_assets.ts";
import { LocalBus } from "../lib/bus.ts";
import { loadConfig } from "../lib/config.ts";
import type { Logger } from "../lib/log.ts";
import { timingSafeEqual } from "../lib/timing_safe_equal.ts";
import { createApp } from "../routes/app.ts";
import { createMemoryEngine } from "../engines/memory/engine.ts";
import { connect, writeAll } from "./_raw_http.ts";
import { eventually } from "./_server.ts";

// FUZZ_SEED=random (as in `deno task fuzz`): a fresh seed; a failure prints it.
const SEED_TEXT = Deno.env.get("FUZZ_SEED") ?? "20260401";
const SEED = SEED_TEXT === "random"
  ? Math.floor(Math.random() * 2 ** 31)
  : Number(SEED_TEXT);
const RUNS = Number(Deno.env.get("FUZZ_RUNS") ?? 200);

Deno.test("timingSafeEqual() is true for equal strings only", () => {
  assert.ok(timingSafeEqual("s3cret", "s3cret"));
  assert.ok(timingSafeEqual("", ""));
  assert.ok(timingSafeEqual("é\u{1f431}", "é\u{1f431}"));
  for (
    const given of ["", "s", "s3cre", "s3creT", "S3cret", "s3cret ", "s3cretx"]
  ) {
    assert.ok(!timingSafeEqual(given, "s3cret"), given);
  }
  assert.ok(!timingSafeEqual("s3cret", ""));
  // Same bytes modulo the wrap-around index must not pass.
  assert.ok(!timingSafeEqual("ab", "abab"));
  assert.ok(!timingSafeEqual("a", "aa"));
});

Deno.test("timingSafeEqual() agrees with === on arbitrary strings (property)", () => {
  const text = fc.string({ unit: "binary", maxLength: 20 });
  fc.assert(
    fc.property(text, text, (a, b) => {
      assert.equal(timingSafeEqual(a, b), a === b);
      assert.ok(timingSafeEqual(a, a));
    }),
    { seed: SEED, numRuns: RUNS },
  );
});

Deno.test("PUBLISH_TOKEN never appears in a log line, whatever requests arrive", async () => {
  const token = "tok-9f2c1e7d";
  const lines: string[] = [];
  const logger: Logger = {
    log(level, message, fields) {
      lines.push(JSON.stringify({ level, message, ...fields }));
    },
  };
  const config = loadConfig({
    PUBLISH_TOKEN: token,
    HEARTBEAT_MS: "0",
    UPDATE_INTERVAL_MS: "0",
    MAX_QUEUED_BYTES: "1024",
  });
  const app = createApp(config, {
    engine: createMemoryEngine({ bus: new LocalBus() }),
    readAsset: createDenoAssetReader(new URL("../static/", import.meta.url)),
    logger,
  });
  const controller = new AbortController();
  const server = Deno.serve({
    port: 0,
    hostname: "127.0.0.1",
    signal: controller.signal,
    onListen() {},
  }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  const conn = await connect(server.addr.port);
  try {
    // A reader that never reads, so that a drop is logged.
    await writeAll(conn, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    await eventually(() => app.hub.stats().localClients === 1);
    const attempts: Array<Record<string, string>> = [
      { authorization: `Bearer ${token}` },
      { authorization: `Bearer ${token}x` },
      { authorization: `Basic ${token}` },
      { authorization: token },
      {},
    ];
    for (const headers of attempts) {
      const response = await fetch(`${url}/message?token=x`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ message: "m".repeat(60_000) }),
      });
      await response.body?.cancel();
    }
    for (let i = 0; i < 200 && app.hub.stats().dropped === 0; i++) {
      const response = await fetch(`${url}/message`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${token}`,
        },
        body: JSON.stringify({ message: "m".repeat(60_000) }),
      });
      await response.body?.cancel();
    }
    assert.equal(app.hub.stats().dropped, 1);
  } finally {
    conn.close();
    await app.close();
    controller.abort();
    await server.finished;
  }
  assert.ok(lines.length > 0, "nothing was logged, so nothing was checked");
  for (const line of lines) assert.ok(!line.includes(token), line);
});
