/**
 * @module How fast the kv engine commits publishes on a local file, and how
 * long a follower takes to deliver them:
 * `deno run -A bench/kv_publish_rate.ts [events] [publishers] [followers] [rate]`
 * (defaults 2000, 1, 0, 0). With 0 followers, a second engine in this process
 * follows (the doorbell `kv.watch` fires there); with N followers, N other
 * processes each open an engine on the file (where only polling delivers),
 * as `deno task start` processes do. `rate` > 0 paces the publishers to that
 * many events/s in all (0: as fast as commits go). Retention runs on its
 * default timer, as in a server. It prints the commit rate, the delivery lag
 * (p50/p99/max, from a high-resolution wall clock carried in each event) and
 * the CPU time per event of the publishing process and of each follower.
 */
import process from "node:process";
import { openKvEngine } from "../engines/kv/engine.ts";
import type { HubEvent } from "../lib/bus.ts";

/** A wall clock with sub-ms resolution that agrees across processes. */
function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** CPU ms (user + system) this process has used. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

function quantile(sorted: number[], q: number): string {
  return (sorted[Math.floor(q * (sorted.length - 1))] ?? NaN).toFixed(1);
}

/** Follows `path` until `events` events arrived; prints its lags as JSON. */
async function follow(path: string, events: number): Promise<void> {
  const engine = await openKvEngine({ path });
  const lags: number[] = [];
  const all = Promise.withResolvers<void>();
  let cpu = 0;
  engine.bus.subscribe((event: HubEvent) => {
    const { t } = JSON.parse(event.data) as { t: number };
    if (lags.length === 0) cpu = cpuMs();
    lags.push(wallNow() - t);
    if (lags.length === events) all.resolve();
  });
  await all.promise;
  const used = cpuMs() - cpu;
  await engine.close();
  // deno-lint-ignore no-console
  console.log(JSON.stringify({ lags, cpuMs: used }));
}

if (Deno.args[0] === "--follow") {
  await follow(Deno.args[1]!, Number(Deno.args[2]));
  Deno.exit(0);
}

const events = Number(Deno.args[0] ?? 2000);
const publishers = Number(Deno.args[1] ?? 1);
const followers = Number(Deno.args[2] ?? 0);
const rate = Number(Deno.args[3] ?? 0);
const dir = await Deno.makeTempDir({ prefix: "herald-kv-rate-" });
const path = `${dir}/herald.kv`;
const writer = await openKvEngine({ path });

interface Result {
  readonly lags: number[];
  readonly cpuMs: number;
}

const children = Array.from(
  { length: followers },
  () =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-kv",
        new URL(import.meta.url).pathname,
        "--follow",
        path,
        String(events),
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn(),
);
const outputs = children.map(async (child): Promise<Result> => {
  const text = await new Response(child.stdout).text();
  return JSON.parse(text.trim().split("\n").at(-1)!);
});
let results: Promise<Result[]>;
if (followers === 0) {
  const reader = await openKvEngine({ path });
  const lags: number[] = [];
  const all = Promise.withResolvers<Result[]>();
  reader.bus.subscribe((event: HubEvent) => {
    lags.push(wallNow() - (JSON.parse(event.data) as { t: number }).t);
    if (lags.length === events) {
      all.resolve([{ lags, cpuMs: NaN }]);
    }
  });
  results = all.promise.finally(() => reader.close());
} else {
  // Every follower is ready once its presence entry is in the file.
  const kv = await Deno.openKv(path);
  for (;;) {
    let n = 0;
    for await (const _ of kv.list({ prefix: ["herald", "presence"] })) n++;
    if (n >= followers + 1) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  kv.close();
  results = Promise.all(outputs);
}

const cpuBefore = cpuMs();
const started = performance.now();
await Promise.all(
  Array.from({ length: publishers }, async (_, p) => {
    for (let i = p; i < events; i += publishers) {
      if (rate > 0) {
        const due = started + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      await writer.bus.publish({
        topic: `t${i % 8}`,
        event: "chat",
        data: JSON.stringify({ i, t: wallNow() }),
      });
    }
  }),
);
const committed = performance.now() - started;
const writerCpu = cpuMs() - cpuBefore;
const done = await results;
await writer.close();
await Promise.all(children.map((child) => child.status));
const lags = done.flatMap((r) => r.lags).sort((a, b) => a - b);
// deno-lint-ignore no-console
console.log(
  `${events} publishes by ${publishers}${rate > 0 ? ` at ${rate}/s` : ""}, ${
    followers === 0
      ? "a follower in-process"
      : `${followers} follower processes`
  }: ${
    Math.round(events / (committed / 1000))
  } events/s committed; publish to delivery p50 ${quantile(lags, 0.5)} p99 ${
    quantile(lags, 0.99)
  } max ${
    quantile(lags, 1)
  } ms (${lags.length} deliveries); CPU per event: publisher ${
    (writerCpu * 1000 / events).toFixed(0)
  } µs${
    followers === 0
      ? ""
      : `, followers ${
        done.map((r) => (r.cpuMs * 1000 / events).toFixed(0)).join("/")
      } µs`
  }`,
);
await Deno.remove(dir, { recursive: true });
