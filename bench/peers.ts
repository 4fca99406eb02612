/**
 * @module The servers the benchmark compares, and how to start and stop each
 * one fresh: herald (one isolate, and `deno serve --parallel` with 2
 * isolates, both from the deno.json tasks), nchan (nginx with
 * `bench/nchan.conf`), the naive Node `http` broadcaster and the minimal
 * `Deno.serve` broadcaster. Every server is started through
 * `bash -c "ulimit -n <n>; exec ..."` so it can hold 10,000 sockets.
 */
import { processTree } from "./proc.ts";

/** A server the benchmark can run. */
export interface PeerSpec {
  /** Short name used on the command line. */
  name: string;
  /** Row label in the tables. */
  label: string;
  /** The command (argv) and extra environment to run it on `port`. */
  command(
    port: number,
    tempDir: string,
  ): { argv: string[]; env: Record<string, string> };
  /** Path of the SSE endpoint. */
  eventsPath: string;
  /** Path of the publish endpoint. */
  publishPath: string;
}

/** The repository root (bench/..). */
export const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

function denoTask(name: string): string[] {
  const config = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`)) as {
    tasks: Record<string, string>;
  };
  const task = config.tasks[name];
  if (task === undefined) {
    throw new Error(`Cannot start herald: no "${name}" task in deno.json`);
  }
  const argv = task.trim().split(/\s+/);
  if (argv[0] === "deno") argv[0] = Deno.execPath();
  return argv;
}

const HERALD_ENV = {
  HOSTNAME: "127.0.0.1",
  MAX_CLIENTS: "20000",
};

/** Every peer the harness knows, by name. */
export const PEERS: Record<string, PeerSpec> = {
  herald: {
    name: "herald",
    label: "herald, 1 isolate",
    command: (port) => ({
      argv: denoTask("start"),
      env: { ...HERALD_ENV, PORT: String(port) },
    }),
    eventsPath: "/events?topic=chat",
    publishPath: "/message",
  },
  "herald-parallel": {
    name: "herald-parallel",
    label: "herald, deno serve --parallel (2 isolates)",
    command: (port) => ({
      argv: denoTask("start:parallel"),
      env: { ...HERALD_ENV, PORT: String(port), DENO_JOBS: "2" },
    }),
    eventsPath: "/events?topic=chat",
    publishPath: "/message",
  },
  nchan: {
    name: "nchan",
    label: "nchan 1.3.6 (nginx 1.22, 2 workers)",
    command: (port, tempDir) => {
      const conf = Deno.readTextFileSync(`${ROOT}/bench/nchan.conf`)
        .replaceAll("__PORT__", String(port));
      Deno.writeTextFileSync(`${tempDir}/nchan.conf`, conf);
      return {
        argv: [
          "nginx",
          "-p",
          `${tempDir}/`,
          "-e",
          "stderr",
          "-c",
          `${tempDir}/nchan.conf`,
        ],
        env: {},
      };
    },
    eventsPath: "/events?topic=chat",
    publishPath: "/message",
  },
  node: {
    name: "node",
    label: "naive Node `http` broadcaster",
    command: (port) => ({
      argv: ["node", `${ROOT}/bench/peers/naive_node.mjs`],
      env: { PORT: String(port), HOSTNAME: "127.0.0.1" },
    }),
    eventsPath: "/events",
    publishPath: "/message",
  },
  "node-on-deno": {
    name: "node-on-deno",
    label: "the naive Node `http` broadcaster run by Deno (node:http)",
    command: (port) => ({
      argv: [
        Deno.execPath(),
        "run",
        "--allow-net",
        "--allow-env",
        `${ROOT}/bench/peers/naive_node.mjs`,
      ],
      env: { PORT: String(port), HOSTNAME: "127.0.0.1" },
    }),
    eventsPath: "/events",
    publishPath: "/message",
  },
  "deno-minimal": {
    name: "deno-minimal",
    label: "minimal `Deno.serve` broadcaster",
    command: (port) => ({
      argv: [
        Deno.execPath(),
        "run",
        "--allow-net",
        "--allow-env",
        `${ROOT}/bench/peers/minimal_deno.ts`,
      ],
      env: { PORT: String(port), HOSTNAME: "127.0.0.1" },
    }),
    eventsPath: "/events",
    publishPath: "/message",
  },
  "deno-minimal-batch": {
    name: "deno-minimal-batch",
    label: "minimal `Deno.serve` broadcaster, frames batched per 5 ms",
    command: (port) => ({
      argv: [
        Deno.execPath(),
        "run",
        "--allow-net",
        "--allow-env",
        `${ROOT}/bench/peers/minimal_deno.ts`,
      ],
      env: { PORT: String(port), HOSTNAME: "127.0.0.1", BATCH_MS: "5" },
    }),
    eventsPath: "/events",
    publishPath: "/message",
  },
};

/** A free loopback TCP port (closed again at once). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** A started server. */
export class RunningPeer implements AsyncDisposable {
  readonly spec: PeerSpec;
  readonly port: number;
  readonly pid: number;
  readonly tempDir: string;
  #child: Deno.ChildProcess;
  #stopped = false;

  private constructor(
    spec: PeerSpec,
    port: number,
    tempDir: string,
    child: Deno.ChildProcess,
  ) {
    this.spec = spec;
    this.port = port;
    this.tempDir = tempDir;
    this.#child = child;
    this.pid = child.pid;
  }

  /** Starts `spec` on a free port and waits until it accepts connections. */
  static async start(
    spec: PeerSpec,
    options: { nofile?: number; readyTimeoutMs?: number } = {},
  ): Promise<RunningPeer> {
    const port = freePort();
    const tempDir = Deno.makeTempDirSync({
      prefix: `herald-bench-${spec.name}-`,
    });
    const { argv, env } = spec.command(port, tempDir);
    const log = `${tempDir}/server.log`;
    const script =
      `ulimit -n ${
        options.nofile ?? 20000
      } 2>/dev/null || ulimit -n $(ulimit -Hn); ` +
      `exec ${argv.map(shellQuote).join(" ")} >${shellQuote(log)} 2>&1`;
    const child = new Deno.Command("bash", {
      args: ["-c", script],
      cwd: ROOT,
      env: { ...env, NO_COLOR: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const peer = new RunningPeer(spec, port, tempDir, child);
    const deadline = Date.now() + (options.readyTimeoutMs ?? 20000);
    while (true) {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        conn.close();
        break;
      } catch {
        if (Date.now() > deadline) {
          await peer.stop();
          throw new Error(
            `Cannot start ${spec.name}: no listener on port ${port}; log:\n${peer.log()}`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    // Let every isolate / worker finish starting.
    await new Promise((r) => setTimeout(r, 500));
    return peer;
  }

  /** The server's output so far. */
  log(): string {
    try {
      return Deno.readTextFileSync(`${this.tempDir}/server.log`);
    } catch {
      return "";
    }
  }

  /** Stops the server and its children: SIGTERM twice, then SIGKILL. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const tree = processTree(this.pid).map((pid) => ({
      pid,
      cmd: cmdline(pid),
    }));
    const exited = this.#child.status.then(() => true);
    signal([this.pid], "SIGTERM");
    if (!(await within(exited, 1500))) {
      signal(processTree(this.pid), "SIGTERM");
      if (!(await within(exited, 1500))) {
        signal(processTree(this.pid), "SIGKILL");
        await exited;
      }
    }
    // Children that outlived the parent: only those still running the same
    // command line (so a reused pid is never touched).
    const left = tree.filter((p) =>
      p.pid !== this.pid && p.cmd !== "" && cmdline(p.pid) === p.cmd
    );
    signal(left.map((p) => p.pid), "SIGKILL");
    try {
      Deno.removeSync(this.tempDir, { recursive: true });
    } catch {
      // left behind; harmless
    }
  }

  /** Same as stop(). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

function cmdline(pid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`);
  } catch {
    return "";
  }
}

function signal(pids: number[], sig: Deno.Signal): void {
  for (const p of pids) {
    try {
      Deno.kill(p, sig);
    } catch {
      // gone already
    }
  }
}

/** Whether `promise` settles within `ms`; the timer is always cleared. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
