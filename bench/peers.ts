/**
 * @module The servers the benchmark compares, and how to start and stop each
 * one fresh: herald from the deno.json tasks (one isolate, and
 * `start:parallel` with 2 isolates; each on node:http, the default, and on
 * `deno serve` with HTTP_SERVER=deno), nchan (nginx with
 * `bench/nchan.conf`), the naive Node `http` broadcaster and the minimal
 * `Deno.serve` broadcaster; and herald as three processes over one fresh
 * `redis-server` (`herald-redis`), and as three processes on one Deno KV file
 * in the temp dir (`herald-kv`). Every server is started through
 * `bash -c "ulimit -n <n>; exec ..."` so it can hold 10,000 sockets.
 */
import { SignJWT } from "jose";
import { processTree } from "./proc.ts";

/** A server the benchmark can run. */
export interface PeerSpec {
  /** Short name used on the command line. */
  name: string;
  /** Row label in the tables. */
  label: string;
  /**
   * The command (argv) and extra environment to run it on `port`; `services`
   * says which of the peer's processes this is and where its Redis is.
   */
  command(
    port: number,
    tempDir: string,
    services: PeerServices,
  ): { argv: string[]; env: Record<string, string> };
  /** Path of the SSE endpoint. */
  eventsPath: string;
  /** Path of the publish endpoint. */
  publishPath: string;
  /** Extra request header lines of every stream ("Name: value"). @default {[]} */
  streamHeaders?: string[];
  /** Extra request header lines of every publish. @default {[]} */
  publishHeaders?: string[];
  /** Publish every n-th message with `"private": true` (0: none). @default {0} */
  privateEvery?: number;

  /**
   * Server processes to start, each on its own port; streams and publishes
   * are spread over them round-robin. @default {1}
   */
  processes?: number;
  /**
   * Start a fresh `redis-server` (no persistence, in the temp dir) before
   * the servers and stop it after them. @default {false}
   */
  redis?: boolean;
}

/** What a peer's command is told besides its port. */
export interface PeerServices {
  /** Which of the peer's processes this is, from 0. */
  index: number;
  /** `redis://127.0.0.1:<port>` of the peer's Redis, or null. */
  redisUrl: string | null;
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

/**
 * A peer that is one file of `bench/peers/` run by `deno run` with net and env
 * access, listening on PORT (plus any `env` of its own).
 */
export function denoPeer(
  name: string,
  label: string,
  file: string,
  env: Record<string, string> = {},
): PeerSpec {
  return {
    name,
    label,
    command: (port) => ({
      argv: [
        Deno.execPath(),
        "run",
        "--allow-net",
        "--allow-env",
        `${ROOT}/bench/peers/${file}`,
      ],
      env: { PORT: String(port), HOSTNAME: "127.0.0.1", ...env },
    }),
    eventsPath: "/events",
    publishPath: "/message",
  };
}

const HERALD_ENV = {
  HOSTNAME: "127.0.0.1",
  MAX_CLIENTS: "20000",
};

/** The secret of the herald-private peer, and the token each of its streams sends. */
const BENCH_SECRET = "bench-secret-that-is-at-least-32-bytes";
const BENCH_PUBLISH_TOKEN = "bench-publish-token";
const BENCH_STREAM_TOKEN = await new SignJWT({
  mercure: { subscribe: ["chat"] },
}).setProtectedHeader({ alg: "HS256" }).setExpirationTime("6h")
  .sign(new TextEncoder().encode(BENCH_SECRET));

/** Every peer the harness knows, by name. */
export const PEERS: Record<string, PeerSpec> = {
  herald: {
    name: "herald",
    label: "herald, 1 isolate (node:http)",
    command: (port) => ({
      argv: denoTask("start"),
      env: { ...HERALD_ENV, PORT: String(port) },
    }),
    eventsPath: "/events?topic=chat",
    publishPath: "/message",
  },
  "herald-private": {
    name: "herald-private",
    label:
      "herald, 1 isolate, every stream with a token, half the events private",
    command: (port) => ({
      argv: denoTask("start"),
      env: {
        ...HERALD_ENV,
        PORT: String(port),
        JWT_SECRET: BENCH_SECRET,
        PUBLISH_TOKEN: BENCH_PUBLISH_TOKEN,
      },
    }),
    eventsPath: "/events?topic=chat",
    publishPath: "/message",
    // Verified once per stream when it opens (the cookie, as a browser sends it).
    streamHeaders: [`Cookie: mercureAuthorization=${BENCH_STREAM_TOKEN}`],
    publishHeaders: [`Authorization: Bearer ${BENCH_PUBLISH_TOKEN}`],
    privateEvery: 2,
  },
  "herald-deno": {
    name: "herald-deno",
    label: "herald, 1 isolate, deno serve (HTTP_SERVER=deno)",
    command: (port) => ({
      argv: denoTask("start"),
      env: { ...HERALD_ENV, PORT: String(port), HTTP_SERVER: "deno" },
    }),
    eventsPath: "/events?topic=chat",
    publishPath: "/message",
  },
  "herald-parallel": {
    name: "herald-parallel",
    label: "herald, start:parallel (node:http, 2 Workers)",
    command: (port) => ({
      argv: denoTask("start:parallel"),
      env: { ...HERALD_ENV, PORT: String(port), DENO_JOBS: "2" },
    }),
    eventsPath: "/events?topic=chat",
    publishPath: "/message",
  },
  "herald-deno-parallel": {
    name: "herald-deno-parallel",
    label:
      "herald, start:parallel on deno serve --parallel, 2 isolates (HTTP_SERVER=deno)",
    command: (port) => ({
      argv: denoTask("start:parallel"),
      env: {
        ...HERALD_ENV,
        PORT: String(port),
        DENO_JOBS: "2",
        HTTP_SERVER: "deno",
      },
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
  "node-on-deno": denoPeer(
    "node-on-deno",
    "the naive Node `http` broadcaster run by Deno (node:http)",
    "naive_node.mjs",
  ),
  "deno-minimal": denoPeer(
    "deno-minimal",
    "minimal `Deno.serve` broadcaster",
    "minimal_deno.ts",
  ),
  "herald-redis": {
    name: "herald-redis",
    label: "herald, 3 processes over one Redis",
    command: (port, _tempDir, { redisUrl }) => ({
      argv: denoTask("start"),
      env: { ...HERALD_ENV, PORT: String(port), REDIS_URL: redisUrl ?? "" },
    }),
    eventsPath: "/events?topic=chat",
    publishPath: "/message",
    processes: 3,
    redis: true,
  },
  "herald-kv": {
    name: "herald-kv",
    label: "herald, 3 processes on one Deno KV file",
    command: (port, tempDir) => ({
      argv: denoTask("start"),
      env: {
        ...HERALD_ENV,
        PORT: String(port),
        KV_PATH: `${tempDir}/herald.kv`,
      },
    }),
    eventsPath: "/events?topic=chat",
    publishPath: "/message",
    processes: 3,
  },
  "deno-minimal-batch": denoPeer(
    "deno-minimal-batch",
    "minimal `Deno.serve` broadcaster, frames batched per 5 ms",
    "minimal_deno.ts",
    { BATCH_MS: "5" },
  ),
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

/** A started peer: its server processes, and its Redis when it has one. */
export class RunningPeer implements AsyncDisposable {
  readonly spec: PeerSpec;
  /** The first server's port and pid (the only ones for most peers). */
  readonly port: number;
  /** See port. */
  readonly pid: number;
  /** Every server's port and pid, in start order. */
  readonly ports: number[];
  /** See ports. */
  readonly pids: number[];
  /** Pids of helper processes (Redis), measured apart from the servers. */
  readonly sidecarPids: number[];
  readonly tempDir: string;
  #servers: ServerProcess[];
  #sidecars: ServerProcess[];
  #stopped = false;

  private constructor(
    spec: PeerSpec,
    tempDir: string,
    servers: ServerProcess[],
    sidecars: ServerProcess[],
  ) {
    this.spec = spec;
    this.tempDir = tempDir;
    this.#servers = servers;
    this.#sidecars = sidecars;
    this.ports = servers.map((s) => s.port);
    this.pids = servers.map((s) => s.pid);
    this.port = this.ports[0]!;
    this.pid = this.pids[0]!;
    this.sidecarPids = sidecars.map((s) => s.pid);
  }

  /**
   * Starts `spec` (its Redis first, when it has one, then its servers, each
   * on a free port) and waits until every one accepts connections.
   */
  static async start(
    spec: PeerSpec,
    options: { nofile?: number; readyTimeoutMs?: number } = {},
  ): Promise<RunningPeer> {
    const tempDir = Deno.makeTempDirSync({
      prefix: `herald-bench-${spec.name}-`,
    });
    const nofile = options.nofile ?? 20000;
    const deadline = Date.now() + (options.readyTimeoutMs ?? 20000);
    const sidecars: ServerProcess[] = [];
    const servers: ServerProcess[] = [];
    const peer = () => new RunningPeer(spec, tempDir, servers, sidecars);
    try {
      let redisUrl: string | null = null;
      if (spec.redis) {
        const port = freePort();
        const redis = ServerProcess.spawn(
          "redis",
          port,
          [
            "redis-server",
            "--port",
            String(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            tempDir,
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
          ],
          {},
          `${tempDir}/redis.log`,
          nofile,
        );
        sidecars.push(redis);
        await redis.listening(deadline);
        redisUrl = `redis://127.0.0.1:${port}`;
      }
      const count = Math.max(1, spec.processes ?? 1);
      for (let index = 0; index < count; index++) {
        const port = freePort();
        const { argv, env } = spec.command(port, tempDir, { index, redisUrl });
        servers.push(
          ServerProcess.spawn(
            spec.name,
            port,
            argv,
            env,
            `${tempDir}/server${index === 0 ? "" : `-${index}`}.log`,
            nofile,
          ),
        );
      }
      await Promise.all(servers.map((s) => s.listening(deadline)));
    } catch (error) {
      await peer().stop();
      throw error;
    }
    // Let every isolate / worker finish starting.
    await new Promise((r) => setTimeout(r, 500));
    return peer();
  }

  /** The servers' output so far (and Redis's, after theirs). */
  log(): string {
    return [...this.#servers, ...this.#sidecars].map((s) => s.log()).join("");
  }

  /**
   * Stops the servers and their children (SIGTERM twice, then SIGKILL),
   * then Redis, and removes the temp dir.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await Promise.all(this.#servers.map((s) => s.stop()));
    await Promise.all(this.#sidecars.map((s) => s.stop()));
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

/** One process started through `bash -c "ulimit -n <n>; exec ..."`. */
class ServerProcess {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  #child: Deno.ChildProcess;
  #logFile: string;
  #exited = false;
  #stopped = false;

  private constructor(
    name: string,
    port: number,
    child: Deno.ChildProcess,
    logFile: string,
  ) {
    this.name = name;
    this.port = port;
    this.#child = child;
    this.pid = child.pid;
    this.#logFile = logFile;
    child.status.then(() => this.#exited = true, () => this.#exited = true);
  }

  static spawn(
    name: string,
    port: number,
    argv: string[],
    env: Record<string, string>,
    logFile: string,
    nofile: number,
  ): ServerProcess {
    const script =
      `ulimit -n ${nofile} 2>/dev/null || ulimit -n $(ulimit -Hn); ` +
      `exec ${argv.map(shellQuote).join(" ")} >${shellQuote(logFile)} 2>&1`;
    const child = new Deno.Command("bash", {
      args: ["-c", script],
      cwd: ROOT,
      env: { ...env, NO_COLOR: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    return new ServerProcess(name, port, child, logFile);
  }

  /** Resolves once the port accepts a connection; throws after `deadline`. */
  async listening(deadline: number): Promise<void> {
    while (true) {
      try {
        const conn = await Deno.connect({
          hostname: "127.0.0.1",
          port: this.port,
        });
        conn.close();
        return;
      } catch {
        if (this.#exited || Date.now() > deadline) {
          throw new Error(
            `Cannot start ${this.name}: no listener on port ${this.port}${
              this.#exited ? " (it exited)" : ""
            }; log:\n${this.log()}`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  log(): string {
    try {
      return Deno.readTextFileSync(this.#logFile);
    } catch {
      return "";
    }
  }

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
