/**
 * @module What the Mercure hub's warm-up costs: the time to read the newest
 * 1,000 updates (200 characters of data each, over 10 topics) from the
 * engine's log, five times, on a fresh Redis and on a fresh local KV file:
 * `deno run -A --unstable-kv bench/log_tail.ts [events]` (default 1000;
 * needs `redis-server` on PATH).
 */
import { connectRedisEngine } from "../engines/redis/engine.ts";
import { openKvEngine } from "../engines/kv/engine.ts";
import type { Engine } from "../lib/engine.ts";
import { startRedis } from "../tests/_redis.ts";

const events = Number(Deno.args[0] ?? 1000);
const data = JSON.stringify("x".repeat(200));

async function time(label: string, engine: Engine): Promise<void> {
  for (let i = 0; i < events; i++) {
    await engine.bus.publish({ topic: `t${i % 10}`, event: "chat", data });
  }
  const runs: string[] = [];
  for (let r = 0; r < 5; r++) {
    const started = performance.now();
    const read = await engine.log!.tail({
      limit: events,
      maxBytes: 64 * 1024 * 1024,
    });
    runs.push(
      `${(performance.now() - started).toFixed(1)} ms (${read.length})`,
    );
  }
  // deno-lint-ignore no-console
  console.log(`${label}: ${runs.join(", ")}`);
  await engine.close();
}

{
  await using redis = await startRedis();
  await time(
    "redis",
    await connectRedisEngine(redis.url, { historySize: events }),
  );
}
const dir = await Deno.makeTempDir({ prefix: "herald-tail-" });
await time(
  "kv",
  await openKvEngine({
    path: `${dir}/herald.kv`,
    historySize: events,
    trimIntervalMs: 3_600_000,
  }),
);
await Deno.remove(dir, { recursive: true });
