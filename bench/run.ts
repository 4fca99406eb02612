/**
 * @module `deno task bench`: the benchmark's command line.
 *
 * - `deno task bench --quick`: herald alone (one isolate), 200 streams × 200
 *   messages; exits non-zero unless every delivery arrived exactly once.
 * - `deno task bench`: the peer comparison of issue 6 (herald, herald
 *   --parallel, herald as 3 processes over Redis and on one KV file, nchan,
 *   naive Node, ...),
 *   each started fresh per run, in
 *   alternation, medians of 3; prints the tables and writes the raw results
 *   to `bench/results/<time>.json`.
 *
 * Options (full run): `--peers herald,herald-redis,nchan,...` (also
 * `deno-minimal-batch`),
 * `--reps 3`, `--scenarios wide,fast`, `--streams 10000`, `--rate 10`,
 * `--seconds 10`, `--fast-streams 1000`, `--step-seconds 2`, `--workers 1`,
 * `--client epoll|deno` (epoll through FFI where available), `--quiet-wait 10`
 * (seconds to wait for other load on the machine to stop before each run),
 * `--out <file>`; `--from <file>` prints the tables of a saved run again.
 * Quick run: `--streams`, `--messages`, `--rate`, `--peers <one peer>`
 * (default herald).
 */
import { parseArgs } from "node:util";
import { PEERS } from "./peers.ts";
import { procReadable, waitForQuiet } from "./proc.ts";
import { epollAvailable } from "./epoll_pool.ts";
import type { ClientKind } from "./fleet.ts";
import {
  detailTable,
  headlineTable,
  phaseLine,
  print,
  progress,
  type Row,
  summarise,
} from "./report.ts";
import {
  type FastResult,
  runFast,
  runQuick,
  runWide,
  type WideResult,
} from "./scenarios.ts";
import { runSoak, soakLine, soakTable, soakVerdict } from "./soak.ts";

const DEFAULT_PEERS = [
  "herald",
  "herald-parallel",
  "herald-redis",
  "herald-kv",
  "nchan",
  "node",
  "deno-minimal",
  "node-on-deno",
];

function commandLine(argv: string[]): string {
  try {
    const out = new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      stdout: "piped",
      stderr: "piped",
    })
      .outputSync();
    const text = new TextDecoder().decode(out.stdout) +
      new TextDecoder().decode(out.stderr);
    return text.trim().split("\n")[0] ?? "";
  } catch {
    return "(not found)";
  }
}

/** The machine and the versions of everything measured. */
export function machineInfo(): Record<string, string> {
  const cpu = Deno.readTextFileSync("/proc/cpuinfo");
  const model = /^model name\s*:\s*(.*)$/m.exec(cpu)?.[1] ?? "?";
  const mem = /^MemTotal:\s+(\d+) kB/m.exec(
    Deno.readTextFileSync("/proc/meminfo"),
  )?.[1];
  return {
    cpu: `${navigator.hardwareConcurrency} × ${model}`,
    memory: `${((Number(mem) || 0) / 1024 / 1024).toFixed(1)} GiB`,
    kernel: commandLine(["uname", "-sr"]),
    deno: `${Deno.version.deno} (V8 ${Deno.version.v8})`,
    node: commandLine(["node", "--version"]),
    nginx: commandLine(["nginx", "-v"]),
    nchan: commandLine([
      "dpkg-query",
      "-W",
      "-f",
      "${Version}",
      "libnginx-mod-nchan",
    ]),
    redis: commandLine(["redis-server", "--version"]),
    "open files limit": commandLine(["bash", "-c", "ulimit -Hn"]),
  };
}

/** Parses the command line and runs; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      soak: { type: "boolean", default: false },
      phases: { type: "string", default: "10" },
      gc: { type: "boolean", default: false },
      peers: { type: "string" },
      reps: { type: "string", default: "3" },
      scenarios: { type: "string", default: "wide,fast" },
      streams: { type: "string" },
      messages: { type: "string" },
      rate: { type: "string" },
      seconds: { type: "string", default: "10" },
      "fast-streams": { type: "string", default: "1000" },
      "step-seconds": { type: "string", default: "2" },
      workers: { type: "string", default: "1" },
      client: { type: "string" },
      "quiet-wait": { type: "string", default: "10" },
      out: { type: "string" },
      from: { type: "string" },
    },
    strict: true,
  });
  if (values.quick) return await quick(values);
  if (values.soak) return await soak(values);
  if (values.from !== undefined) return render(values.from);

  const peers = (values.peers?.split(",") ?? DEFAULT_PEERS).map((name) => {
    const spec = PEERS[name];
    if (spec === undefined) {
      throw new Error(
        `Cannot run peer "${name}": known peers are ${
          Object.keys(PEERS).join(", ")
        }`,
      );
    }
    return spec;
  });
  const reps = Number(values.reps);
  const scenarios = new Set(values.scenarios.split(","));
  const streams = Number(values.streams ?? 10000);
  const rate = Number(values.rate ?? 10);
  const seconds = Number(values.seconds);
  const workers = Number(values.workers);
  const client =
    (values.client ?? (epollAvailable() ? "epoll" : "deno")) as ClientKind;
  const quietWait = Number(values["quiet-wait"]);
  const noise: { tag: string; busyCores: number }[] = [];
  const wide = new Map<string, WideResult[]>();
  const fast = new Map<string, FastResult[]>();
  const failures: string[] = [];
  const started = Date.now();
  const machine = machineInfo();
  progress(
    `machine: ${
      JSON.stringify(machine)
    }; client ${client}, ${workers} worker(s)`,
  );
  for (let rep = 1; rep <= reps; rep++) {
    for (const scenario of ["wide", "fast"]) {
      if (!scenarios.has(scenario)) continue;
      for (const spec of peers) {
        const tag = `[rep ${rep}/${reps}] ${scenario} ${spec.name}`;
        if (quietWait > 0) {
          const busy = await waitForQuiet({ timeoutMs: quietWait * 1000 });
          noise.push({ tag, busyCores: busy });
          if (busy > 0.25) {
            progress(
              `${tag}: machine still ${
                busy.toFixed(2)
              } cores busy after ${quietWait} s; running anyway`,
            );
          }
        }
        try {
          if (scenario === "wide") {
            const r = await runWide(spec, {
              streams,
              rate,
              seconds,
              workers,
              client,
            });
            progress(
              `${tag}: opened ${r.open.established} in ${
                r.open.openMs.toFixed(0)
              } ms, ` +
                `${r.rssPerStreamKiB.toFixed(1)} KiB RSS / ${
                  r.pssPerStreamKiB.toFixed(1)
                } KiB Pss per idle stream; ` +
                phaseLine(r.phase),
            );
            wide.set(spec.name, [...(wide.get(spec.name) ?? []), r]);
          } else {
            const r = await runFast(spec, {
              streams: Number(values["fast-streams"]),
              stepSeconds: Number(values["step-seconds"]),
              workers,
              client,
            });
            progress(`${tag}: cpu phase: ${phaseLine(r.cpu)}`);
            for (const s of r.steps) {
              progress(
                `${tag}:   ${s.pass ? "pass" : "FAIL"}${
                  s.noisy ? " (noisy)" : ""
                } ${phaseLine(s.phase)}`,
              );
            }
            progress(`${tag}: highest passing rate ${r.bestRate} msg/s`);
            fast.set(spec.name, [...(fast.get(spec.name) ?? []), r]);
          }
        } catch (error) {
          const message = error instanceof Error
            ? error.message
            : String(error);
          failures.push(`${tag}: ${message}`);
          progress(`${tag}: FAILED ${message}`);
        }
      }
    }
  }
  const rows: Row[] = peers.map((spec) =>
    summarise(
      spec.name,
      spec.label,
      wide.get(spec.name) ?? [],
      fast.get(spec.name) ?? [],
    )
  );
  print(`\n${headlineTable(rows, streams, rate)}\n\n${detailTable(rows)}\n`);
  if (failures.length > 0) {
    print(`Failures:\n${failures.map((f) => `- ${f}`).join("\n")}`);
  }
  print(`Total time ${((Date.now() - started) / 1000).toFixed(0)} s`);
  const out = values.out ??
    new URL(
      `./results/${
        new Date().toISOString().replaceAll(":", "-").slice(0, 19)
      }.json`,
      import.meta.url,
    )
      .pathname;
  Deno.mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
  Deno.writeTextFileSync(
    out,
    JSON.stringify(
      {
        args,
        rows,
        wide: Object.fromEntries(wide),
        fast: Object.fromEntries(fast),
        failures,
      },
      (_k, v) => v instanceof Uint32Array ? undefined : v,
      2,
    ) + "\n",
  );
  print(`Raw results: ${out}`);
  return failures.length > 0 ? 1 : 0;
}

/** Prints the tables of a saved results file again (`--from <file>`). */
function render(file: string): number {
  const saved = JSON.parse(Deno.readTextFileSync(file)) as {
    args: string[];
    wide: Record<string, WideResult[]>;
    fast: Record<string, FastResult[]>;
  };
  const names = [
    ...new Set([...Object.keys(saved.wide), ...Object.keys(saved.fast)]),
  ];
  const rows = names.map((name) =>
    summarise(
      name,
      PEERS[name]?.label ?? name,
      saved.wide[name] ?? [],
      saved.fast[name] ?? [],
    )
  );
  const first = Object.values(saved.wide)[0]?.[0];
  print(
    `${
      headlineTable(
        rows,
        first?.phase.streams ?? 10000,
        first?.phase.rate ?? 10,
      )
    }\n\n${detailTable(rows)}`,
  );
  return 0;
}

async function quick(
  values: {
    peers?: string | undefined;
    streams?: string | undefined;
    messages?: string | undefined;
    rate?: string | undefined;
  },
): Promise<number> {
  const spec = PEERS[values.peers ?? "herald"];
  if (spec === undefined) {
    throw new Error(`Cannot run peer "${values.peers}": no such peer`);
  }
  const result = await runQuick({
    spec,
    streams: Number(values.streams ?? 200),
    messages: Number(values.messages ?? 200),
    rate: Number(values.rate ?? 200),
  });
  print(
    `bench --quick: ${spec.name}, opened ${result.open.established} streams in ${
      result.open.openMs.toFixed(0)
    } ms; ` +
      phaseLine(result.phase),
  );
  if (!result.ok) {
    print(`bench --quick: FAILED: ${result.problems.join("; ")}`);
    return 1;
  }
  if (!procReadable()) {
    print(
      "bench --quick: (no /proc access: CPU figures read 0; run with --allow-all)",
    );
  }
  print("bench --quick: ok, every delivery arrived exactly once");
  return 0;
}

/** The memory soak of issue 17 (`--soak`); see bench/soak.ts. */
async function soak(
  values: { phases: string; rate?: string | undefined; gc: boolean },
): Promise<number> {
  if (!procReadable()) {
    print("bench --soak: needs /proc (run with --allow-all)");
    return 1;
  }
  const rate = Number(values.rate ?? 300);
  progress(
    `bench --soak: machine ${
      JSON.stringify(machineInfo())
    }; ${values.phases} phases × 40 MB of 60 KB messages at ${rate} msg/s${
      values.gc ? ", forced GC readings" : ""
    }`,
  );
  const result = await runSoak(
    { phases: Number(values.phases), rate, gc: values.gc },
    (r) => progress(`bench --soak: ${soakLine(r)}`),
  );
  print(soakTable(result.readings));
  const verdict = soakVerdict(result.readings);
  print(`bench --soak: ${verdict.text}`);
  return verdict.ok ? 0 : 1;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
