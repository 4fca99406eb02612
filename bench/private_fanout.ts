/**
 * @module `deno task bench:private`: herald's own cost of private topics,
 * in process, so that the other load of a shared machine weighs the same on
 * both sides. 1,000 streams on one topic, each opened with the grants of a
 * token, read to the end; events published through the hub, either all
 * public or half private (every stream granted, so every stream still gets
 * every event and the deliveries are the same). The two variants alternate,
 * `--reps` times each; CPU (user + system, this process) per delivery and
 * wall-clock deliveries per second are medians. Also the cost of verifying
 * one HS256 token, paid once per connection. Deno-only.
 */
import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { readAuthConfig } from "../lib/auth/auth_config.ts";
import { createTokenVerifier } from "../lib/auth/token_verifier.ts";
import { LocalBus } from "../lib/bus.ts";
import { MemoryHistory } from "../lib/history.ts";
import { Hub } from "../lib/hub.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    streams: { type: "string", default: "1000" },
    events: { type: "string", default: "2000" },
    reps: { type: "string", default: "7" },
  },
});
const STREAMS = Number(values.streams);
const EVENTS = Number(values.events);
const REPS = Number(values.reps);
const SECRET = "bench-secret-that-is-at-least-32-bytes";

function cpuMs(): number {
  const { user, system } = cpuUsage();
  return (user + system) / 1000;
}

function median(list: number[]): number {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Reads a stream to its end; resolves with the bytes read. */
async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  let bytes = 0;
  for await (const chunk of stream) bytes += chunk.byteLength;
  return bytes;
}

async function run(
  privateEvery: number,
): Promise<{ cpuUsPerDelivery: number; perSec: number }> {
  const verifier = createTokenVerifier(readAuthConfig({ JWT_SECRET: SECRET }));
  const token = await new SignJWT({ mercure: { subscribe: ["chat"] } })
    .setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h")
    .sign(new TextEncoder().encode(SECRET));
  const hub = new Hub(new LocalBus(), new MemoryHistory({ size: 100 }), {
    heartbeatMs: 0,
    updateIntervalMs: 0,
    maxClients: STREAMS + 1,
    maxQueuedBytes: 64 * 1024 * 1024,
  });
  const reads: Promise<number>[] = [];
  for (let i = 0; i < STREAMS; i++) {
    // As GET /events does: the token checked once, when the stream opens.
    const grants = await verifier.verify(token);
    const topics = ["chat"];
    reads.push(drain(hub.subscribe(topics, null, {
      privateTopics: topics.filter((t) => grants.maySubscribe(t)),
      expiresAt: grants.expiresAt,
    })));
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  const cpu0 = cpuMs();
  const wall0 = performance.now();
  for (let i = 0; i < EVENTS; i++) {
    await hub.publish({
      message: `event ${i} ${"x".repeat(64)}`,
      topic: "chat",
      event: "chat",
      ...(privateEvery > 0 && i % privateEvery === 0 ? { private: true } : {}),
    });
    // Let the streams be read now and then, as a socket would.
    if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  hub.drain(0);
  await Promise.all(reads);
  const wallMs = performance.now() - wall0;
  const cpu = cpuMs() - cpu0;
  await hub.close();
  const deliveries = STREAMS * EVENTS;
  return {
    cpuUsPerDelivery: cpu * 1000 / deliveries,
    perSec: deliveries / (wallMs / 1000),
  };
}

async function verifyCost(): Promise<number> {
  const verifier = createTokenVerifier(readAuthConfig({ JWT_SECRET: SECRET }));
  const token = await new SignJWT({ mercure: { subscribe: ["users/42/*"] } })
    .setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h")
    .sign(new TextEncoder().encode(SECRET));
  const n = 2000;
  for (let i = 0; i < 200; i++) await verifier.verify(token);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await verifier.verify(token);
  return (performance.now() - t0) * 1000 / n;
}

const results: Record<string, { cpu: number[]; rate: number[] }> = {
  public: { cpu: [], rate: [] },
  "half private": { cpu: [], rate: [] },
};
await run(0); // warm-up
for (let rep = 0; rep < REPS; rep++) {
  for (const [name, every] of [["public", 0], ["half private", 2]] as const) {
    const r = await run(every);
    results[name]!.cpu.push(r.cpuUsPerDelivery);
    results[name]!.rate.push(r.perSec);
  }
}
const pub = results.public!;
const priv = results["half private"]!;
const lines = [
  `${STREAMS} streams × ${EVENTS} events, ${REPS} alternating reps, medians:`,
  `  public only:   ${median(pub.cpu).toFixed(4)} µs CPU per delivery, ${
    Math.round(median(pub.rate)).toLocaleString("en")
  } deliveries/s`,
  `  half private:  ${median(priv.cpu).toFixed(4)} µs CPU per delivery, ${
    Math.round(median(priv.rate)).toLocaleString("en")
  } deliveries/s`,
  `  difference:    CPU ${
    ((median(priv.cpu) / median(pub.cpu) - 1) * 100).toFixed(1)
  } %, rate ${((median(priv.rate) / median(pub.rate) - 1) * 100).toFixed(1)} %`,
  `  HS256 token verified once per connection: ${
    (await verifyCost()).toFixed(1)
  } µs`,
];
// deno-lint-ignore no-console
console.log(lines.join("\n"));
