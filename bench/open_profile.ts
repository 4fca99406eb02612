/**
 * @module Where opening a stream goes: starts herald's default server
 * (adapters/node_main.ts, node:http) with the V8 inspector on, opens N
 * streams while the inspector samples, and prints per stream opened either
 * the bytes allocated (`--mode alloc`: V8's sampling heap profiler with the
 * objects young and full GCs collected kept in, so garbage counts) as a
 * top-down tree, or where the main thread's time went (`--mode cpu`: V8's
 * CPU profiler, 100 µs samples) by function, self and inclusive. GC helper
 * threads are not in the CPU profile; `(garbage collector)` is the main
 * thread's share.
 *
 * Run: `deno run -A bench/open_profile.ts [--mode alloc|cpu] [--streams 10000] [--min 250]`
 * (`--min`: the smallest subtree shown, in bytes per stream; `--entry`: another
 * server file, e.g. `bench/peers/naive_node.mjs`).
 */
import { parseArgs } from "node:util";
import { heapFlags } from "../adapters/v8_flags.ts";
import { StreamFleet } from "./fleet.ts";
import { freePort, type PeerSpec, ROOT, RunningPeer } from "./peers.ts";
import { print, progress } from "./report.ts";

/** One node of a V8 sampling heap profile or CPU profile. */
interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children?: HeapNode[];
}

interface CpuNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: CpuNode[];
  samples: number[];
}

function frameName(frame: CallFrame): string {
  const file = frame.url.split("/").at(-1) ?? "";
  return `${frame.functionName || "(anonymous)"} ${file}:${
    frame.lineNumber + 1
  }`;
}

/** A minimal Chrome DevTools Protocol client over the inspector's WebSocket. */
class Inspector implements Disposable {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, (result: unknown) => void>();
  #next = 0;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data) as {
        id?: number;
        result?: unknown;
      };
      if (message.id === undefined) return;
      this.#pending.get(message.id)?.(message.result);
      this.#pending.delete(message.id);
    };
  }

  static async connect(url: string): Promise<Inspector> {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = reject;
    });
    return new Inspector(socket);
  }

  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.#next;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve as (result: unknown) => void);
      this.#socket.send(JSON.stringify({ id, method, params }));
    });
  }

  [Symbol.dispose](): void {
    this.#socket.close();
  }
}

/** The inspector's WebSocket address, once it lists the isolate (30 s at most). */
async function inspectorTarget(port: number): Promise<string> {
  const deadline = Date.now() + 30_000;
  let why = "it lists no isolate";
  while (Date.now() < deadline) {
    try {
      const list = await (await fetch(`http://127.0.0.1:${port}/json`))
        .json() as Array<{ webSocketDebuggerUrl: string }>;
      if (list[0] !== undefined) return list[0].webSocketDebuggerUrl;
    } catch (error) {
      why = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Cannot reach the inspector: ${why}`);
}

/** The allocation tree, bytes per stream, subtrees of at least `min` bytes. */
export function allocationTree(
  head: HeapNode,
  streams: number,
  min: number,
): string {
  const totals = new Map<HeapNode, number>();
  const total = (node: HeapNode): number => {
    const sum = node.selfSize +
      (node.children ?? []).reduce((s, child) => s + total(child), 0);
    totals.set(node, sum);
    return sum;
  };
  total(head);
  const lines: string[] = [];
  const walk = (node: HeapNode, depth: number) => {
    const bytes = totals.get(node)! / streams;
    if (bytes < min) return;
    lines.push(
      `${"  ".repeat(depth)}${bytes.toFixed(0).padStart(7)} B (self ${
        (node.selfSize / streams).toFixed(0)
      }) ${frameName(node.callFrame)}`,
    );
    const children = [...(node.children ?? [])].sort((a, b) =>
      totals.get(b)! - totals.get(a)!
    );
    for (const child of children) walk(child, depth + 1);
  };
  walk(head, 0);
  return lines.join("\n");
}

/** Self and inclusive shares of the main thread's samples, by function. */
export function cpuTable(profile: CpuProfile, rows: number): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const id of profile.samples) {
    const name = frameName(byId.get(id)!.callFrame);
    self.set(name, (self.get(name) ?? 0) + 1);
    const seen = new Set<string>();
    for (
      let at: number | undefined = id;
      at !== undefined;
      at = parent.get(at)
    ) {
      const frame = frameName(byId.get(at)!.callFrame);
      if (seen.has(frame)) continue;
      seen.add(frame);
      inclusive.set(frame, (inclusive.get(frame) ?? 0) + 1);
    }
  }
  const count = profile.samples.length;
  const table = (title: string, counts: Map<string, number>) =>
    [
      `| ${title} | share of samples |`,
      "| --- | ---: |",
      ...[...counts].sort((a, b) => b[1] - a[1]).slice(0, rows).map((
        [name, n],
      ) =>
        `| ${name.replaceAll("|", "\\|")} | ${(100 * n / count).toFixed(1)} % |`
      ),
    ].join("\n");
  return [
    `${count} samples`,
    "",
    table("self", self),
    "",
    table("inclusive", inclusive),
  ].join("\n");
}

/** Opens `streams` streams to a fresh server under the inspector; returns the report. */
export async function profileOpen(options: {
  mode: "alloc" | "cpu";
  streams: number;
  min: number;
  entry: string;
}): Promise<string> {
  const inspectorPort = freePort();
  const spec: PeerSpec = {
    name: "open-profile",
    label: options.entry,
    command: (port) => ({
      argv: [
        Deno.execPath(),
        "run",
        "-A",
        `--inspect=127.0.0.1:${inspectorPort}`,
        // The young generation the launcher gives the server.
        ...heapFlags({}),
        `${ROOT}/${options.entry}`,
      ],
      env: {
        PORT: String(port),
        HOSTNAME: "127.0.0.1",
        MAX_CLIENTS: String(options.streams + 100),
      },
    }),
    eventsPath: "/events?topic=chat",
    publishPath: "/message",
  };
  await using peer = await RunningPeer.start(spec);
  const fleet = new StreamFleet({ client: "epoll", workers: 1 });
  try {
    const target = await inspectorTarget(inspectorPort);
    using inspector = await Inspector.connect(target);
    if (options.mode === "alloc") {
      await inspector.send("HeapProfiler.enable");
      await inspector.send("HeapProfiler.startSampling", {
        samplingInterval: 1024,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
    } else {
      await inspector.send("Profiler.enable");
      await inspector.send("Profiler.setSamplingInterval", { interval: 100 });
      await inspector.send("Profiler.start");
    }
    const open = await fleet.open({
      host: "127.0.0.1",
      port: peer.port,
      path: spec.eventsPath,
      count: options.streams,
    });
    progress(
      `opened ${open.established} of ${options.streams} in ${
        open.openMs.toFixed(0)
      } ms`,
    );
    if (options.mode === "alloc") {
      const { profile } = await inspector.send<{ profile: { head: HeapNode } }>(
        "HeapProfiler.stopSampling",
      );
      return [
        `### Bytes allocated per stream opened (${options.entry}, ${open.established} streams)`,
        "",
        "```",
        allocationTree(profile.head, open.established, options.min),
        "```",
      ].join("\n");
    }
    const { profile } = await inspector.send<{ profile: CpuProfile }>(
      "Profiler.stop",
    );
    return [
      `### The main thread while ${open.established} streams open (${options.entry})`,
      "",
      cpuTable(profile, 30),
    ].join("\n");
  } finally {
    await fleet.close();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      mode: { type: "string", default: "alloc" },
      streams: { type: "string", default: "10000" },
      min: { type: "string", default: "250" },
      entry: { type: "string", default: "adapters/node_main.ts" },
    },
  });
  if (values.mode !== "alloc" && values.mode !== "cpu") {
    throw new Error(
      `Cannot profile: --mode ${values.mode} is not alloc or cpu`,
    );
  }
  print(
    await profileOpen({
      mode: values.mode,
      streams: Number(values.streams),
      min: Number(values.min),
      entry: values.entry,
    }),
  );
}
