/**
 * @module Where the bytes of an idle stream go: starts `profile_server.ts`
 * (herald's handler, or the minimal broadcaster), reads RSS, V8 heap and
 * external memory and takes a heap snapshot with no stream, opens N idle
 * streams, does it again, and prints the difference per stream by V8 object
 * type and constructor.
 *
 * Run: `deno run -A bench/heap_profile.ts [--app herald|minimal] [--streams 1000]`
 */
import { parseArgs } from "node:util";
import { StreamFleet } from "./fleet.ts";
import { type PeerSpec, ROOT, RunningPeer } from "./peers.ts";
import { sampleTree } from "./proc.ts";
import { num, print, progress } from "./report.ts";

interface Memory {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
}

interface Group {
  count: number;
  bytes: number;
}

/** Self sizes of a heap snapshot grouped by "type: name". */
export function groupSnapshot(path: string): Map<string, Group> {
  const snap = JSON.parse(Deno.readTextFileSync(path)) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const groups = new Map<string, Group>();
  const nodes = snap.nodes;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]!] ?? "?";
    let name = snap.strings[nodes[i + nameAt]!] ?? "?";
    if (
      type === "string" || type === "concatenated string" ||
      type === "sliced string" || type === "number"
    ) {
      name = "";
    } else if (type === "code") {
      name = "";
    } else if (name.length > 60) name = name.slice(0, 57) + "...";
    const key = `${type}: ${name}`;
    const g = groups.get(key) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += nodes[i + sizeAt]!;
    groups.set(key, g);
  }
  return groups;
}

async function getJson<T>(
  port: number,
  path: string,
  method = "GET",
): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return await response.json() as T;
}

/** Measures one app; returns the printed report. */
export async function profileApp(
  app: string,
  streams: number,
): Promise<string> {
  const spec: PeerSpec = {
    name: `profile-${app}`,
    label: app,
    command: (port) => ({
      argv: [
        Deno.execPath(),
        "run",
        "-A",
        "--v8-flags=--expose-gc",
        `${ROOT}/bench/profile_server.ts`,
        app,
      ],
      env: { PORT: String(port), HOSTNAME: "127.0.0.1", MAX_CLIENTS: "20000" },
    }),
    eventsPath: "/events?topic=chat",
    publishPath: "/message",
  };
  await using peer = await RunningPeer.start(spec);
  // Warm the handler once (lazy module state, first-request caches).
  const warmFleet = new StreamFleet({ client: "epoll", workers: 1 });
  try {
    await warmFleet.open({
      host: "127.0.0.1",
      port: peer.port,
      path: spec.eventsPath,
      count: 10,
    });
  } finally {
    await warmFleet.close();
  }
  const fleet = new StreamFleet({ client: "epoll", workers: 1 });
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const m0 = await getJson<Memory>(peer.port, "/__bench/memory");
    const t0 = sampleTree(peer.pid);
    const file0 = `${peer.tempDir}/empty.heapsnapshot`;
    await getJson(
      peer.port,
      `/__bench/heap?file=${encodeURIComponent(file0)}`,
      "POST",
    );
    const open = await fleet.open({
      host: "127.0.0.1",
      port: peer.port,
      path: spec.eventsPath,
      count: streams,
    });
    await new Promise((r) => setTimeout(r, 2000));
    const m1 = await getJson<Memory>(peer.port, "/__bench/memory");
    const t1 = sampleTree(peer.pid);
    const file1 = `${peer.tempDir}/streams.heapsnapshot`;
    await getJson(
      peer.port,
      `/__bench/heap?file=${encodeURIComponent(file1)}`,
      "POST",
    );
    const n = open.established;
    progress(`${app}: opened ${n}; analysing snapshots`);
    const g0 = groupSnapshot(file0);
    const g1 = groupSnapshot(file1);
    const rows: Array<[string, number, number]> = [];
    for (const [key, b] of g1) {
      const a = g0.get(key) ?? { count: 0, bytes: 0 };
      const dBytes = b.bytes - a.bytes;
      const dCount = b.count - a.count;
      if (dBytes !== 0 || dCount !== 0) {
        rows.push([key, dCount / n, dBytes / n]);
      }
    }
    rows.sort((x, y) => y[2] - x[2]);
    const heapPerStream = rows.reduce((s, r) => s + r[2], 0);
    const kib = (bytes: number) => num(bytes / 1024, 2);
    const rss = (t1.rssKiB - t0.rssKiB) * 1024 / n;
    const lines = [
      `### ${app}: ${n} idle streams`,
      "",
      "| per stream | bytes | KiB |",
      "| --- | ---: | ---: |",
      `| RSS (process tree, /proc) | ${num(rss)} | ${kib(rss)} |`,
      `| V8 heap used (Deno.memoryUsage, after GC) | ${
        num((m1.heapUsed - m0.heapUsed) / n)
      } | ${kib((m1.heapUsed - m0.heapUsed) / n)} |`,
      `| V8 heap committed (heapTotal) | ${
        num((m1.heapTotal - m0.heapTotal) / n)
      } | ${kib((m1.heapTotal - m0.heapTotal) / n)} |`,
      `| external (ArrayBuffers etc.) | ${
        num((m1.external - m0.external) / n)
      } | ${kib((m1.external - m0.external) / n)} |`,
      `| heap snapshot, sum of self sizes | ${num(heapPerStream)} | ${
        kib(heapPerStream)
      } |`,
      `| RSS − heap committed − external (native: Rust, hyper, tokio, allocator) | ${
        num(
          rss - (m1.heapTotal - m0.heapTotal) / n -
            (m1.external - m0.external) / n,
        )
      } | ${
        kib(
          rss - (m1.heapTotal - m0.heapTotal) / n -
            (m1.external - m0.external) / n,
        )
      } |`,
      "",
      "| heap snapshot: type: constructor / name | objects per stream | bytes per stream |",
      "| --- | ---: | ---: |",
      ...rows.slice(0, 30).map(([key, c, b]) =>
        `| ${key.replaceAll("|", "\\|")} | ${num(c, 2)} | ${num(b, 1)} |`
      ),
    ];
    return lines.join("\n");
  } finally {
    await fleet.close();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      app: { type: "string", default: "herald,minimal" },
      streams: { type: "string", default: "1000" },
    },
  });
  for (const app of values.app.split(",")) {
    print(await profileApp(app, Number(values.streams)) + "\n");
  }
}
