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

function profileSpec(app: string): PeerSpec {
  return {
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
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Starts the app, warms it with 10 streams, calls `before`, opens `streams`
 * idle streams, waits, calls `after`; returns how many opened.
 */
async function withStreams(
  app: string,
  streams: number,
  before: (peer: RunningPeer) => Promise<void>,
  after: (peer: RunningPeer) => Promise<void>,
): Promise<number> {
  const spec = profileSpec(app);
  await using peer = await RunningPeer.start(spec);
  const target = { host: "127.0.0.1", port: peer.port, path: spec.eventsPath };
  const warm = new StreamFleet({ client: "epoll", workers: 1 });
  try {
    await warm.open({ ...target, count: 10 });
  } finally {
    await warm.close();
  }
  const fleet = new StreamFleet({ client: "epoll", workers: 1 });
  try {
    await delay(1000);
    await before(peer);
    const open = await fleet.open({ ...target, count: streams });
    await delay(2000);
    await after(peer);
    return open.established;
  } finally {
    await fleet.close();
  }
}

/**
 * Measures one app in two fresh servers: RSS and `Deno.memoryUsage()` with
 * no snapshot (writing a snapshot grows the process and the allocator then
 * reuses that memory, which would skew RSS either way), then the two heap
 * snapshots for the breakdown by object type. Returns the printed report.
 */
export async function profileApp(
  app: string,
  streams: number,
): Promise<string> {
  let m0: Memory | null = null;
  let m1: Memory | null = null;
  let rss0 = 0;
  let rss1 = 0;
  const n = await withStreams(app, streams, async (peer) => {
    m0 = await getJson<Memory>(peer.port, "/__bench/memory");
    rss0 = sampleTree(peer.pid).rssKiB;
  }, async (peer) => {
    m1 = await getJson<Memory>(peer.port, "/__bench/memory");
    rss1 = sampleTree(peer.pid).rssKiB;
  });
  const dir = Deno.makeTempDirSync({ prefix: "herald-heap-" });
  const snapshot = (file: string) => async (peer: RunningPeer) => {
    await getJson(
      peer.port,
      `/__bench/heap?file=${encodeURIComponent(`${dir}/${file}`)}`,
      "POST",
    );
  };
  const n2 = await withStreams(
    app,
    streams,
    snapshot("empty.heapsnapshot"),
    snapshot("streams.heapsnapshot"),
  );
  progress(`${app}: opened ${n} and ${n2}; analysing snapshots`);
  const g0 = groupSnapshot(`${dir}/empty.heapsnapshot`);
  const g1 = groupSnapshot(`${dir}/streams.heapsnapshot`);
  Deno.removeSync(dir, { recursive: true });
  const rows: Array<[string, number, number]> = [];
  for (const [key, b] of g1) {
    const a = g0.get(key) ?? { count: 0, bytes: 0 };
    if (b.bytes !== a.bytes || b.count !== a.count) {
      rows.push([key, (b.count - a.count) / n2, (b.bytes - a.bytes) / n2]);
    }
  }
  rows.sort((x, y) => y[2] - x[2]);
  const snapshotPerStream = rows.reduce((s, r) => s + r[2], 0);
  const before = m0! as Memory;
  const afterM = m1! as Memory;
  const rss = (rss1 - rss0) * 1024 / n;
  const used = (afterM.heapUsed - before.heapUsed) / n;
  const committed = (afterM.heapTotal - before.heapTotal) / n;
  const external = (afterM.external - before.external) / n;
  const row = (label: string, bytes: number) =>
    `| ${label} | ${num(bytes)} | ${num(bytes / 1024, 2)} |`;
  return [
    `### ${app}: ${n} idle streams`,
    "",
    "| per stream | bytes | KiB |",
    "| --- | ---: | ---: |",
    row("RSS (process, /proc)", rss),
    row("V8 heap used (Deno.memoryUsage after GC)", used),
    row("V8 heap committed (heapTotal)", committed),
    row("external (ArrayBuffers)", external),
    row("RSS − heap committed − external (native)", rss - committed - external),
    row("heap snapshot: sum of self sizes (second server)", snapshotPerStream),
    "",
    "| heap snapshot: type: constructor / name | objects per stream | bytes per stream |",
    "| --- | ---: | ---: |",
    ...rows.slice(0, 30).map(([key, c, b]) =>
      `| ${key.replaceAll("|", "\\|")} | ${num(c, 2)} | ${num(b, 1)} |`
    ),
  ].join("\n");
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
