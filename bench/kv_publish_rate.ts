/**
 * @module How fast the kv engine commits publishes on a local file, and how
 * long a follower in another engine on that file takes to deliver them:
 * `deno run -A bench/kv_publish_rate.ts [events] [publishers]` (defaults
 * 2000 and 1). Each publish is one atomic write; with several publishers
 * they commit concurrently.
 */
import { openKvEngine } from "../engines/kv/engine.ts";
import type { HubEvent } from "../lib/bus.ts";

const events = Number(Deno.args[0] ?? 2000);
const publishers = Number(Deno.args[1] ?? 1);
const dir = await Deno.makeTempDir({ prefix: "herald-kv-rate-" });
const path = `${dir}/herald.kv`;
const writer = await openKvEngine({ path, trimIntervalMs: 3_600_000 });
const reader = await openKvEngine({ path, trimIntervalMs: 3_600_000 });
const sent = new Map<string, number>();
const lags: number[] = [];
let received = 0;
const all = Promise.withResolvers<void>();
reader.bus.subscribe((event: HubEvent) => {
  const at = sent.get(event.id);
  if (at !== undefined) lags.push(performance.now() - at);
  if (++received === events) all.resolve();
});
const started = performance.now();
await Promise.all(
  Array.from({ length: publishers }, async (_, p) => {
    for (let i = p; i < events; i += publishers) {
      const t = performance.now();
      const event = await writer.bus.publish({
        topic: `t${i % 8}`,
        event: "chat",
        data: JSON.stringify({ i }),
      });
      sent.set(event.id, t);
    }
  }),
);
const committed = performance.now() - started;
await all.promise;
lags.sort((a, b) => a - b);
const at = (q: number) => lags[Math.floor(q * (lags.length - 1))]!.toFixed(1);
// deno-lint-ignore no-console
console.log(
  `${events} publishes by ${publishers}: ${
    Math.round(events / (committed / 1000))
  } events/s committed; publish to delivery in the other engine p50 ${
    at(0.5)
  } p99 ${at(0.99)} max ${at(1)} ms (${lags.length} timed)`,
);
await writer.close();
await reader.close();
await Deno.remove(dir, { recursive: true });
