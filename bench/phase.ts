/**
 * @module One measured publishing phase against a running server: publish
 * `messages` at `rate`, wait for the deliveries to drain, and report counts,
 * latency quantiles, throughput and the CPU of the server and of the load
 * generator over the phase.
 */
import type { StreamFleet } from "./fleet.ts";
import { LatencyHistogram } from "./histogram.ts";
import { machineCpuByKind, sampleTrees, selfCpuMs } from "./proc.ts";
import { Publisher, type PublishResult } from "./publisher.ts";

/** The figures of one phase. */
export interface PhaseResult {
  /** Target publish rate, msg/s. */
  rate: number;
  /** Messages published. */
  messages: number;
  /** Streams open when the phase began. */
  streams: number;
  /** streams × messages. */
  expected: number;
  /** Distinct deliveries. */
  received: number;
  /** expected − received. */
  lost: number;
  /** Repeated deliveries of a (stream, message) pair. */
  duplicates: number;
  /** Deliveries of messages from another phase. */
  stray: number;
  /** Latency quantiles and max, ms. */
  p50: number;
  /** See p50. */
  p90: number;
  /** See p50. */
  p99: number;
  /** See p50. */
  max: number;
  /** received / (last delivery − first due publish), per second. */
  deliveriesPerSec: number;
  /** Server CPU over the phase, ms, and per delivery, µs. */
  serverCpuMs: number;
  /** See serverCpuMs. */
  serverCpuUsPerDelivery: number;
  /** Load generator CPU over the phase, ms, and per delivery, µs. */
  clientCpuMs: number;
  /** See clientCpuMs. */
  clientCpuUsPerDelivery: number;
  /**
   * CPU of the peer's helper processes (its Redis) over the phase, ms, and
   * per delivery, µs; not in serverCpuMs. 0 for peers without one.
   */
  sidecarCpuMs: number;
  /** See sidecarCpuMs. */
  sidecarCpuUsPerDelivery: number;
  /**
   * Whole-machine CPU over the phase, in cores (busy ms / wall ms), split
   * into user, system and softirq (the loopback's packet work).
   */
  machine: {
    busy: number;
    user: number;
    system: number;
    softirq: number;
    steal: number;
    /**
     * busy − softirq − server − helpers − load generator: other processes
     * on the machine.
     */
    others: number;
  };
  /** Wall time of the phase from first due publish to the end of the drain, ms. */
  wallMs: number;
  /** The publisher's own report. */
  publish: Omit<PublishResult, "startedAt" | "endedAt">;
}

/** What a phase needs. */
export interface PhaseContext {
  /** The streams. */
  fleet: StreamFleet;
  /** Streams open now. */
  streams: number;
  /** Server pid (its tree is measured). */
  serverPid: number;
  /** Every server pid, when the peer runs several. @default {[serverPid]} */
  serverPids?: number[];
  /** Helper pids (Redis), measured apart. @default {[]} */
  sidecarPids?: number[];
  /** Server address and publish path. */
  host: string;
  /** See host. */
  port: number;
  /** Every server port; publishes go round-robin. @default {[port]} */
  ports?: number[];
  /** See host. */
  publishPath: string;
  /** The next unused sequence number; advanced by each phase. */
  nextSeq: number;
  /** Publisher connections. @default {4} */
  publishConnections?: number;
  /** Extra header lines of every publish (a token). @default {[]} */
  publishHeaders?: string[];
  /** Every n-th message is published private; 0: none. @default {0} */
  privateEvery?: number;
}

/** Options of one phase. */
export interface PhaseOptions {
  /** Messages to publish. */
  messages: number;
  /** Messages per second. */
  rate: number;
  /** Stop waiting for stragglers after this long without progress. @default {1500} */
  quietMs?: number;
  /** Stop waiting for stragglers after this long in all. @default {15000} */
  maxDrainMs?: number;
  /** Characters of padding added to each message. @default {0} */
  padding?: number;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs one phase; see the module doc. */
export async function runPhase(
  ctx: PhaseContext,
  options: PhaseOptions,
): Promise<PhaseResult> {
  const { messages, rate } = options;
  const firstSeq = ctx.nextSeq;
  ctx.nextSeq += messages;
  await ctx.fleet.begin(firstSeq, messages);
  const expected = ctx.streams * messages;
  const publisher = new Publisher({
    host: ctx.host,
    port: ctx.port,
    ...(ctx.ports === undefined ? {} : { ports: ctx.ports }),
    path: ctx.publishPath,
    connections: ctx.publishConnections ?? 4,
    padding: options.padding ?? 0,
    ...(ctx.publishHeaders === undefined
      ? {}
      : { headers: ctx.publishHeaders }),
    ...(ctx.privateEvery === undefined
      ? {}
      : { privateEvery: ctx.privateEvery }),
  });
  const serverPids = ctx.serverPids ?? [ctx.serverPid];
  const sidecarPids = ctx.sidecarPids ?? [];
  const server0 = sampleTrees(serverPids, false).cpuMs;
  const sidecar0 = sampleTrees(sidecarPids, false).cpuMs;
  const client0 = selfCpuMs();
  const machine0 = machineCpuByKind();
  const wall0 = performance.now();
  const published = await publisher.run(firstSeq, messages, rate);
  // Drain: until everything arrived, or no progress for quietMs.
  const quietMs = options.quietMs ?? 1500;
  const drainEnd = Date.now() + (options.maxDrainMs ?? 15000);
  let last = -1;
  let lastChange = Date.now();
  while (Date.now() < drainEnd) {
    const { received } = await ctx.fleet.progress();
    if (received >= expected) break;
    if (received !== last) {
      last = received;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > quietMs) break;
    await delay(20);
  }
  const server1 = sampleTrees(serverPids, false).cpuMs;
  const sidecar1 = sampleTrees(sidecarPids, false).cpuMs;
  const client1 = selfCpuMs();
  const machine1 = machineCpuByKind();
  const wall = performance.now() - wall0;
  const cores = (k: string) => (machine1[k]! - machine0[k]!) / wall;
  const machine = {
    busy: cores("user") + cores("nice") + cores("system") + cores("irq") +
      cores("softirq") + cores("steal"),
    user: cores("user") + cores("nice"),
    system: cores("system"),
    softirq: cores("softirq") + cores("irq"),
    steal: cores("steal"),
    others: 0,
  };
  const tally = await ctx.fleet.tally();
  const histogram = new LatencyHistogram(tally.counts, tally.maxUs);
  const received = tally.received;
  const span = tally.lastAt - published.startedAt;
  const serverCpuMs = server1 - server0;
  const clientCpuMs = client1 - client0;
  const sidecarCpuMs = sidecar1 - sidecar0;
  machine.others = Math.max(
    0,
    machine.busy - machine.softirq -
      (serverCpuMs + sidecarCpuMs + clientCpuMs) / wall,
  );
  const { startedAt: _s, endedAt: _e, ...publish } = published;
  return {
    rate,
    messages,
    streams: ctx.streams,
    expected,
    received,
    lost: expected - received,
    duplicates: tally.duplicates,
    stray: tally.stray,
    p50: histogram.quantile(0.5) / 1000,
    p90: histogram.quantile(0.9) / 1000,
    p99: histogram.quantile(0.99) / 1000,
    max: histogram.max / 1000,
    deliveriesPerSec: span > 0 ? received / (span / 1000) : 0,
    serverCpuMs,
    serverCpuUsPerDelivery: received > 0 ? serverCpuMs * 1000 / received : 0,
    clientCpuMs,
    clientCpuUsPerDelivery: received > 0 ? clientCpuMs * 1000 / received : 0,
    sidecarCpuMs,
    sidecarCpuUsPerDelivery: received > 0 ? sidecarCpuMs * 1000 / received : 0,
    machine,
    wallMs: performance.timeOrigin + performance.now() - published.startedAt,
    publish,
  };
}
