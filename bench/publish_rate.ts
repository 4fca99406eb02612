/**
 * @module A publish-heavy load: few streams, many publishes a second, over
 * many keep-alive connections. Each rate runs for `--seconds`; the line per
 * rate gives what was accepted and delivered, the p99 from publish to
 * delivery, how far the publisher fell behind its schedule, and the cores
 * the server, the load generator and the whole machine used. Where the
 * default rate search (`deno task bench`, 1,000 streams) is bound by the
 * load generator's parsing, this one is bound by the server's work per
 * publish (HTTP, validation, ids, history, the bus), so it shows what a
 * second isolate adds and what the bus between isolates costs. The
 * publisher keeps one request in flight per connection, so it needs enough
 * of them not to be bound by round trips: with 16, one isolate fell behind
 * at 20,000/s that it holds with 64.
 *
 * Run: `deno run -A bench/publish_rate.ts [--peers herald,herald-parallel] [--streams 20] [--connections 64] [--rates 4000,8000,12000,16000,20000,24000] [--seconds 3]`
 */
import { parseArgs } from "node:util";
import { StreamFleet } from "./fleet.ts";
import { type PhaseContext, runPhase } from "./phase.ts";
import { PEERS, RunningPeer } from "./peers.ts";
import { print, progress } from "./report.ts";

/** One peer under each rate in turn; returns a line per rate. */
export async function publishRates(
  name: string,
  options: {
    streams: number;
    connections: number;
    rates: number[];
    seconds: number;
  },
): Promise<string[]> {
  const spec = PEERS[name];
  if (spec === undefined) throw new Error(`Cannot run: no peer "${name}"`);
  await using peer = await RunningPeer.start(spec);
  const fleet = new StreamFleet({ client: "epoll", workers: 1 });
  const lines: string[] = [];
  try {
    const open = await fleet.open({
      host: "127.0.0.1",
      port: peer.port,
      path: spec.eventsPath,
      count: options.streams,
    });
    const ctx: PhaseContext = {
      fleet,
      streams: open.established,
      serverPid: peer.pid,
      serverPids: peer.pids,
      host: "127.0.0.1",
      port: peer.port,
      ports: peer.ports,
      publishPath: spec.publishPath,
      publishConnections: options.connections,
      nextSeq: 0,
    };
    for (const rate of options.rates) {
      const p = await runPhase(ctx, {
        messages: Math.round(rate * options.seconds),
        rate,
        quietMs: 1000,
        maxDrainMs: 10000,
      });
      const cores = (ms: number) => (ms / p.wallMs).toFixed(2);
      const line =
        `${name} at ${rate}/s to ${p.streams} streams: ${p.publish.accepted}/${p.publish.sent} accepted, ${p.received}/${p.expected} delivered, p99 ${
          p.p99.toFixed(0)
        } ms, publisher behind by ${
          p.publish.maxLagMs.toFixed(0)
        } ms at most; server ${cores(p.serverCpuMs)} cores, load generator ${
          cores(p.clientCpuMs)
        }, machine ${p.machine.busy.toFixed(2)}`;
      progress(line);
      lines.push(line);
      // Let a backlog clear before the next rate.
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  } finally {
    await fleet.close();
  }
  return lines;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      peers: { type: "string", default: "herald,herald-parallel" },
      streams: { type: "string", default: "20" },
      connections: { type: "string", default: "64" },
      rates: { type: "string", default: "4000,8000,12000,16000,20000,24000" },
      seconds: { type: "string", default: "3" },
    },
  });
  const lines: string[] = [];
  for (const name of values.peers.split(",")) {
    lines.push(
      ...await publishRates(name, {
        streams: Number(values.streams),
        connections: Number(values.connections),
        rates: values.rates.split(",").map(Number),
        seconds: Number(values.seconds),
      }),
    );
  }
  print(lines.join("\n"));
}
