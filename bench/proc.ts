/**
 * @module CPU time and memory of a process tree, read from `/proc` (Linux).
 * A process's `stat` counts all its threads (isolates of `deno serve
 * --parallel` are threads); children (nginx workers, a server spawned by a
 * launcher) are found through `/proc/<pid>/task/<tid>/children`.
 */

/** One reading of a process tree. */
export interface TreeSample {
  /** When it was read, epoch ms. */
  at: number;
  /** Processes in the tree. */
  pids: number[];
  /** Threads in the tree. */
  threads: number;
  /** user + system CPU of the tree, ms. */
  cpuMs: number;
  /** Sum of VmRSS, KiB. */
  rssKiB: number;
  /** Sum of Pss (shared pages split between their users), KiB. */
  pssKiB: number;
}

let clockTicks = 0;
let readable: boolean | null = null;

/**
 * Whether this process may read `/proc` (Deno asks for `--allow-all` there;
 * `deno task bench` has it, `deno test` may not). Without it, every CPU and
 * memory figure reads 0.
 */
export function procReadable(): boolean {
  if (readable === null) {
    try {
      Deno.readTextFileSync("/proc/self/stat");
      readable = true;
    } catch {
      readable = false;
    }
  }
  return readable;
}

function ticksPerSecond(): number {
  if (clockTicks === 0) {
    try {
      const out = new Deno.Command("getconf", { args: ["CLK_TCK"] })
        .outputSync();
      clockTicks = Number(new TextDecoder().decode(out.stdout).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

function read(path: string): string | null {
  if (!procReadable()) return null;
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

/** The pid and every descendant of it that is alive now. */
export function processTree(pid: number): number[] {
  if (!procReadable()) return [pid];
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    if (read(`/proc/${p}/stat`) === null) continue;
    out.push(p);
    let tasks: string[] = [];
    try {
      tasks = [...Deno.readDirSync(`/proc/${p}/task`)].map((e) => e.name);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      const children = read(`/proc/${p}/task/${tid}/children`);
      if (children === null) continue;
      for (const c of children.split(" ")) {
        if (c.trim() !== "") todo.push(Number(c));
      }
    }
  }
  return out;
}

/** user + system CPU of one process (all its threads), ms; 0 when gone. */
export function processCpuMs(pid: number | "self"): number {
  const stat = read(`/proc/${pid}/stat`);
  if (stat === null) return 0;
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks * 1000 / ticksPerSecond();
}

function statusKiB(status: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status);
  return m === null ? 0 : Number(m[1]);
}

/** CPU and memory of `pid` and its descendants. */
export function sampleTree(pid: number, withPss = true): TreeSample {
  return sampleTrees([pid], withPss);
}

/**
 * CPU and memory of several roots and their descendants, summed (the
 * processes of a peer that runs more than one server).
 */
export function sampleTrees(roots: number[], withPss = true): TreeSample {
  const pids = [...new Set(roots.flatMap((root) => processTree(root)))];
  let cpuMs = 0;
  let rssKiB = 0;
  let pssKiB = 0;
  let threads = 0;
  for (const p of pids) {
    cpuMs += processCpuMs(p);
    const status = read(`/proc/${p}/status`);
    if (status !== null) {
      rssKiB += statusKiB(status, "VmRSS");
      const t = /^Threads:\s+(\d+)/m.exec(status);
      threads += t === null ? 0 : Number(t[1]);
    }
    if (withPss) {
      const rollup = read(`/proc/${p}/smaps_rollup`);
      if (rollup !== null) pssKiB += statusKiB(rollup, "Pss");
    }
  }
  return {
    at: performance.timeOrigin + performance.now(),
    pids,
    threads,
    cpuMs,
    rssKiB,
    pssKiB,
  };
}

/** The load generator's own CPU (all its threads, Workers included), ms. */
export function selfCpuMs(): number {
  return processCpuMs("self");
}

/** Jiffies of the whole machine: busy (all but idle and iowait) and total. */
export function machineCpu(): { busyMs: number; totalMs: number } {
  const line = (read("/proc/stat") ?? "").split("\n")[0] ?? "";
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const k = 1000 / ticksPerSecond();
  return { busyMs: (total - idle) * k, totalMs: total * k };
}

/** Jiffies by kind for the whole machine, ms: user, system, softirq ... */
export function machineCpuByKind(): Record<string, number> {
  const line = (read("/proc/stat") ?? "").split("\n")[0] ?? "";
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const names = [
    "user",
    "nice",
    "system",
    "idle",
    "iowait",
    "irq",
    "softirq",
    "steal",
  ];
  const k = 1000 / ticksPerSecond();
  return Object.fromEntries(names.map((n, i) => [n, (f[i] ?? 0) * k]));
}

/**
 * Waits until the machine has been nearly idle (below `maxBusyCores`) over a
 * `windowMs` window, or `timeoutMs` passed; returns the last window's busy cores.
 */
export async function waitForQuiet(
  options: { maxBusyCores?: number; windowMs?: number; timeoutMs?: number } =
    {},
): Promise<number> {
  const max = options.maxBusyCores ?? 0.25;
  const windowMs = options.windowMs ?? 1000;
  const deadline = Date.now() + (options.timeoutMs ?? 60000);
  while (true) {
    const a = machineCpu();
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const b = machineCpu();
    const busy = (b.busyMs - a.busyMs) / windowMs;
    if (busy <= max || Date.now() > deadline) return busy;
  }
}
