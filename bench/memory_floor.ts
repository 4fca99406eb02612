/**
 * @module What one idle connection costs, layer by layer: RSS of a fresh
 * server process with N connections held open, minus the same process with
 * none, per connection. The layers: a Deno TCP socket with a pending read;
 * `Deno.serve` holding a request it never answers; `Deno.serve` streaming a
 * `ReadableStream` body (the minimal broadcaster); herald; the same naive
 * `node:http` broadcaster under Deno and under Node; nchan.
 *
 * The client here is plain `Deno.connect` (its cost does not matter: only
 * the server's RSS is read), and it does not wait for a response head, so
 * the server that never answers is measured the same way.
 *
 * Run: `deno run -A bench/memory_floor.ts [--connections 10000] [--servers a,b]`
 */
import { parseArgs } from "node:util";
import { denoPeer, PEERS, type PeerSpec, RunningPeer } from "./peers.ts";
import { sampleTree } from "./proc.ts";
import { num, print, progress } from "./report.ts";

/** The layers, in the order of the table. */
export const LAYERS: Record<string, PeerSpec> = {
  "tcp-hold": denoPeer(
    "tcp-hold",
    "Deno TCP socket, one pending read (`Deno.listen`)",
    "tcp_hold_deno.ts",
  ),
  pending: denoPeer(
    "pending",
    "`Deno.serve`, request in flight, no response yet",
    "pending_deno.ts",
  ),
  "deno-minimal": PEERS["deno-minimal"]!,
  herald: PEERS.herald!,
  "herald-deno": PEERS["herald-deno"]!,
  "node-on-deno": PEERS["node-on-deno"]!,
  node: PEERS.node!,
  nchan: PEERS.nchan!,
};

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** KiB of RSS (and Pss) per held connection for one server. */
export async function measureLayer(
  spec: PeerSpec,
  connections: number,
): Promise<{ rssKiB: number; pssKiB: number; held: number }> {
  await using peer = await RunningPeer.start(spec);
  const request = new TextEncoder().encode(
    `GET ${spec.eventsPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`,
  );
  const conns: Deno.Conn[] = [];
  try {
    await delay(1000);
    const before = sampleTree(peer.pid);
    for (let i = 0; i < connections; i += 200) {
      const batch = Math.min(200, connections - i);
      await Promise.all(Array.from({ length: batch }, async () => {
        const conn = await Deno.connect({
          hostname: "127.0.0.1",
          port: peer.port,
        });
        conns.push(conn);
        await conn.write(request);
      }));
    }
    await delay(3000);
    const after = sampleTree(peer.pid);
    return {
      rssKiB: (after.rssKiB - before.rssKiB) / conns.length,
      pssKiB: (after.pssKiB - before.pssKiB) / conns.length,
      held: conns.length,
    };
  } finally {
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // closed by the server
      }
    }
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      connections: { type: "string", default: "10000" },
      servers: { type: "string", default: Object.keys(LAYERS).join(",") },
    },
  });
  const n = Number(values.connections);
  const lines = [
    `| server (${
      num(n)
    } idle connections) | RSS KiB per connection | Pss KiB per connection |`,
    "| --- | ---: | ---: |",
  ];
  for (const name of values.servers.split(",")) {
    const spec = LAYERS[name];
    if (spec === undefined) {
      throw new Error(`Cannot measure "${name}": unknown server`);
    }
    const r = await measureLayer(spec, n);
    progress(
      `${name}: ${r.held} held, ${r.rssKiB.toFixed(2)} KiB RSS per connection`,
    );
    lines.push(`| ${spec.label} | ${num(r.rssKiB, 1)} | ${num(r.pssKiB, 1)} |`);
  }
  print(lines.join("\n"));
}
