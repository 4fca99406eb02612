/**
 * @module The memory soak of issue 17: big messages through a server that
 * holds one stalled reader and one fast reader. Each phase publishes
 * `phaseBytes` of `messageBytes` messages on one topic while a fresh raw
 * socket asks for the stream and never reads (it must be cut off at
 * MAX_QUEUED_BYTES) and one stream reads everything (it must get every
 * message); after each phase the server's RSS is read from `/proc`. With
 * `gc`, the server is `profile_server.ts` (herald's handler, one isolate,
 * `--expose-gc` and the launcher's V8 flags) and each reading also gives the live heap and external
 * memory after a forced full GC, to tell what herald keeps from what V8 and
 * the allocator have not given back yet.
 *
 * The figure to read is where RSS levels off: the highest reading of the
 * phases after the first few, against the bound {@linkcode runSoak} states.
 */
import { StreamFleet } from "./fleet.ts";
import { type PhaseResult, runPhase } from "./phase.ts";
import { PEERS, type PeerSpec, ROOT, RunningPeer } from "./peers.ts";
import { processTree, sampleTree } from "./proc.ts";
import { heapFlags } from "../adapters/v8_flags.ts";

const HOST = "127.0.0.1";

/** Options of {@linkcode runSoak}. */
export interface SoakOptions {
  /** Publishing phases. @default {10} */
  phases?: number;
  /** Bytes of messages published per phase. @default {40000000} */
  phaseBytes?: number;
  /** Characters of padding per message (its size, near enough). @default {60000} */
  messageBytes?: number;
  /** Messages per second. @default {300} */
  rate?: number;
  /** HISTORY_SIZE of the server. @default {50} */
  historySize?: number;
  /**
   * Run `profile_server.ts` with `--expose-gc` instead of `deno task start`,
   * and read the heap after a forced GC too. @default {false}
   */
  gc?: boolean;
  /** Extra environment for the server. @default {{}} */
  env?: Record<string, string>;
}

/** One reading, after a phase (or before the first: phase 0). */
export interface SoakReading {
  /** 0 before publishing, then 1, 2, ... */
  phase: number;
  /** MB (10^6 bytes) published so far. */
  publishedMB: number;
  /** VmRSS of the server process, MiB. */
  rssMiB: number;
  /** With `gc`: V8 heap used after a full GC, MiB. */
  heapUsedMiB?: number;
  /** With `gc`: V8 heap reserved (committed) after a full GC, MiB. */
  heapTotalMiB?: number;
  /** With `gc`: external memory (ArrayBuffers) after a full GC, MiB. */
  externalMiB?: number;
  /** With `gc`: RSS right after that GC, MiB. */
  rssAfterGcMiB?: number;
  /** Messages of this phase the fast reader did not get. */
  lost: number;
  /** Streams the server has cut off as slow readers, so far. */
  dropped: number;
}

/** What {@linkcode runSoak} measured. */
export interface SoakResult {
  /** Every reading, phase 0 first. */
  readings: SoakReading[];
  /** The phases as the harness saw them. */
  phases: PhaseResult[];
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function soakSpec(options: SoakOptions): PeerSpec {
  const env = {
    HISTORY_SIZE: String(options.historySize ?? 50),
    ...options.env,
  };
  if (options.gc) {
    return {
      name: "herald-soak-gc",
      label: "herald (profile_server.ts, --expose-gc)",
      command: (port) => ({
        argv: [
          Deno.execPath(),
          "run",
          "-A",
          "--v8-flags=--expose-gc",
          // The launcher's flags, so both modes measure the same heap.
          ...heapFlags({ ...Deno.env.toObject(), ...env }),
          `${ROOT}/bench/profile_server.ts`,
          "herald",
        ],
        env: { PORT: String(port), HOSTNAME: HOST, ...env },
      }),
      eventsPath: "/events?topic=chat",
      publishPath: "/message",
    };
  }
  const herald = PEERS.herald!;
  return {
    ...herald,
    name: "herald-soak",
    command: (port, tempDir, services) => {
      const base = herald.command(port, tempDir, services);
      return { argv: base.argv, env: { ...base.env, ...env } };
    },
  };
}

/**
 * The process that serves: the leaf of the peer's tree (`deno task start`
 * runs a launcher whose child is `deno serve`; the launcher's own memory
 * does not move).
 */
function servingPid(root: number): number {
  const tree = processTree(root);
  return tree[tree.length - 1] ?? root;
}

async function stats(port: number): Promise<{ dropped: number }> {
  const response = await fetch(`http://${HOST}:${port}/stats`);
  return await response.json();
}

async function gcMemory(
  port: number,
): Promise<{ heapUsed: number; heapTotal: number; external: number }> {
  const response = await fetch(`http://${HOST}:${port}/__bench/memory`);
  return await response.json();
}

/** Opens /events and never reads a byte: the stalled reader. */
async function stalledReader(port: number, path: string): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: HOST, port });
  await conn.write(
    new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`),
  );
  return conn;
}

/**
 * Runs the soak; see the module doc. Calls `onReading` with each reading
 * and the serving process's pid as it goes.
 */
export async function runSoak(
  options: SoakOptions = {},
  onReading: (reading: SoakReading, pid: number) => void = () => {},
): Promise<SoakResult> {
  const phases = options.phases ?? 10;
  const messageBytes = options.messageBytes ?? 60_000;
  const perPhase = Math.ceil((options.phaseBytes ?? 40_000_000) / messageBytes);
  const spec = soakSpec(options);
  await using peer = await RunningPeer.start(spec);
  const pid = servingPid(peer.pid);
  const fleet = new StreamFleet({ client: "deno" });
  const readings: SoakReading[] = [];
  const results: PhaseResult[] = [];
  const read = async (phase: number, lost: number) => {
    const reading: SoakReading = {
      phase,
      publishedMB: phase * perPhase * messageBytes / 1e6,
      rssMiB: sampleTree(pid, false).rssKiB / 1024,
      lost,
      dropped: (await stats(peer.port)).dropped,
    };
    if (options.gc) {
      const memory = await gcMemory(peer.port);
      reading.heapUsedMiB = memory.heapUsed / 1024 / 1024;
      reading.heapTotalMiB = memory.heapTotal / 1024 / 1024;
      reading.externalMiB = memory.external / 1024 / 1024;
      reading.rssAfterGcMiB = sampleTree(pid, false).rssKiB / 1024;
    }
    readings.push(reading);
    onReading(reading, pid);
  };
  try {
    const open = await fleet.open({
      host: HOST,
      port: peer.port,
      path: spec.eventsPath,
      count: 1,
      readSize: 65536,
    });
    if (open.established !== 1) {
      throw new Error(
        `Cannot open the fast reader: ${JSON.stringify(open.errors)}`,
      );
    }
    await delay(1000);
    await read(0, 0);
    const ctx = {
      fleet,
      streams: 1,
      serverPid: pid,
      host: HOST,
      port: peer.port,
      publishPath: spec.publishPath,
      nextSeq: 0,
    };
    for (let phase = 1; phase <= phases; phase++) {
      const stalled = await stalledReader(peer.port, spec.eventsPath);
      try {
        const result = await runPhase(ctx, {
          messages: perPhase,
          rate: options.rate ?? 300,
          padding: messageBytes,
          quietMs: 3000,
          maxDrainMs: 30000,
        });
        results.push(result);
        // Let the phase's last writes and the cut-off settle, as a reader
        // of `ps` would see the process between bursts.
        await delay(1000);
        await read(phase, result.lost);
      } finally {
        stalled.close();
      }
    }
    return { readings, phases: results };
  } finally {
    await fleet.close();
  }
}

/**
 * The bound the soak's RSS must level off within: every reading after a
 * phase at most this many MiB above the reading before any publish.
 */
export const SOAK_GROWTH_BOUND_MIB = 80;
/** ... and the readings of the last half of the phases within this many MiB of each other. */
export const SOAK_SPREAD_BOUND_MIB = 8;

function mib(value: number | undefined): string {
  return value === undefined ? "–" : value.toFixed(1);
}

/** One reading as a progress line. */
export function soakLine(r: SoakReading): string {
  return `phase ${r.phase}: ${r.publishedMB.toFixed(0)} MB published, RSS ${
    mib(r.rssMiB)
  } MiB` +
    (r.heapUsedMiB === undefined
      ? ""
      : `; after GC heap ${mib(r.heapUsedMiB)} of ${
        mib(r.heapTotalMiB)
      } MiB, external ${mib(r.externalMiB)} MiB, RSS ${
        mib(r.rssAfterGcMiB)
      } MiB`) +
    `; fast reader lost ${r.lost}; ${r.dropped} slow readers cut off`;
}

/** The readings as the Markdown table of BENCHMARKS.md. */
export function soakTable(readings: readonly SoakReading[]): string {
  const gc = readings.some((r) => r.heapUsedMiB !== undefined);
  const head = gc
    ? "| phase | MB published | RSS MiB | heap used / committed after GC MiB | external after GC MiB | RSS after GC MiB | lost | cut off |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    : "| phase | MB published | RSS MiB | lost | cut off |\n| ---: | ---: | ---: | ---: | ---: |";
  const rows = readings.map((r) =>
    gc
      ? `| ${r.phase} | ${r.publishedMB.toFixed(0)} | ${mib(r.rssMiB)} | ${
        mib(r.heapUsedMiB)
      } / ${mib(r.heapTotalMiB)} | ${mib(r.externalMiB)} | ${
        mib(r.rssAfterGcMiB)
      } | ${r.lost} | ${r.dropped} |`
      : `| ${r.phase} | ${r.publishedMB.toFixed(0)} | ${
        mib(r.rssMiB)
      } | ${r.lost} | ${r.dropped} |`
  );
  return [head, ...rows].join("\n");
}

/**
 * Whether the run levelled off within {@linkcode SOAK_GROWTH_BOUND_MIB} and
 * {@linkcode SOAK_SPREAD_BOUND_MIB},
 * lost nothing to the fast reader, and cut off every stalled one.
 */
export function soakVerdict(
  readings: readonly SoakReading[],
): { ok: boolean; text: string } {
  const base = readings[0];
  const after = readings.slice(1);
  if (base === undefined || after.length === 0) {
    return { ok: false, text: "FAILED: no readings" };
  }
  const peak = Math.max(...after.map((r) => r.rssMiB));
  const half = after.slice(Math.floor(after.length / 2));
  const late = Math.max(...half.map((r) => r.rssMiB)) -
    Math.min(...half.map((r) => r.rssMiB));
  const lost = after.reduce((sum, r) => sum + r.lost, 0);
  const dropped = after[after.length - 1]!.dropped;
  const problems: string[] = [];
  if (peak - base.rssMiB > SOAK_GROWTH_BOUND_MIB) {
    problems.push(
      `RSS rose ${
        (peak - base.rssMiB).toFixed(1)
      } MiB, past the bound of ${SOAK_GROWTH_BOUND_MIB}`,
    );
  }
  if (late > SOAK_SPREAD_BOUND_MIB) {
    problems.push(
      `RSS still moved ${
        late.toFixed(1)
      } MiB over the last ${half.length} phases, past the bound of ${SOAK_SPREAD_BOUND_MIB}`,
    );
  }
  if (lost > 0) problems.push(`the fast reader lost ${lost} messages`);
  if (dropped < after.length) {
    problems.push(`${dropped} of ${after.length} stalled readers cut off`);
  }
  const summary =
    `RSS ${base.rssMiB.toFixed(1)} MiB before, peak ${peak.toFixed(1)} MiB (+${
      (peak - base.rssMiB).toFixed(1)
    }, bound +${SOAK_GROWTH_BOUND_MIB}), ` +
    `spread over the last ${half.length} phases ${
      late.toFixed(1)
    } MiB (bound ${SOAK_SPREAD_BOUND_MIB}); ` +
    `fast reader lost ${lost}; ${dropped} stalled readers cut off`;
  return problems.length === 0
    ? { ok: true, text: `ok, ${summary}` }
    : { ok: false, text: `FAILED: ${problems.join("; ")} (${summary})` };
}
