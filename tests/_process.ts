/**
 * Test helper: herald as a real process, the way the tasks run it by
 * default: adapters/node_main.ts (node:http), one job as `deno task start`,
 * more as `deno task start:parallel` (one Worker per isolate on one port).
 * `HERALD_TEST_SERVER=deno` runs them under `deno serve` instead
 * (`--parallel` with DENO_JOBS for more than one job).
 */

/** A free loopback port (listen on 0, close, reuse the number). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Collects a child's stdout and stderr into one string as they arrive. */
export function collectOutput(
  child: Deno.ChildProcess,
): { text: () => string; done: Promise<unknown> } {
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
    }
  };
  return {
    text: () => text,
    done: Promise.all([pump(child.stdout), pump(child.stderr)]),
  };
}

/** A `deno task …` child with its output collected; dispose to kill it. */
export interface TaskProcess extends AsyncDisposable {
  readonly child: Deno.ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
}

/** Runs `deno task <args>` in the repository with `env` (and NO_COLOR). */
export function spawnTask(
  args: string[],
  env: Record<string, string>,
): TaskProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", ...args],
    cwd: new URL("..", import.meta.url).pathname,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const collected = collectOutput(child);
  return {
    child,
    output: collected.text,
    async [Symbol.asyncDispose]() {
      // SIGTERM first: deno task passes it to the launcher and on to its
      // server; a SIGKILL of deno task alone would leave them running,
      // holding the pipes open. SIGKILL after 5 s for a child stuck.
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, 5000);
      await child.status;
      clearTimeout(timer);
      await collected.done;
    },
  };
}

/** A running herald process. */
export interface HeraldProcess {
  readonly url: string;
  readonly port: number;
  readonly child: Deno.ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Sends `signal` and waits for the exit status (SIGKILL after `timeoutMs`). */
  stop(signal?: Deno.Signal, timeoutMs?: number): Promise<Deno.CommandStatus>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options for {@linkcode startHerald}. */
export interface HeraldProcessOptions {
  /** Isolates (as `start:parallel` with DENO_JOBS); 1 runs a single isolate. */
  jobs?: number;
  /** Environment for the process (timers default to off). */
  env?: Record<string, string>;
  /** Port to listen on. @default {a free port} */
  port?: number;
  /**
   * Start it as `deno task start` does (adapters/launcher.ts, PORT from the
   * env) rather than `deno serve main.ts` directly.
   *
   * @default {false}
   */
  viaTask?: boolean;
}

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const NODE_MAIN = new URL("../adapters/node_main.ts", import.meta.url).pathname;

/** Starts herald and waits until it answers GET /stats (with every isolate counted). */
export async function startHerald(
  options: HeraldProcessOptions = {},
): Promise<HeraldProcess> {
  const jobs = options.jobs ?? 1;
  const port = options.port ?? freePort();
  const kvPath = options.env?.KV_PATH;
  const viaDeno = Deno.env.get("HERALD_TEST_SERVER") === "deno";
  const child = new Deno.Command(Deno.execPath(), {
    args: options.viaTask ? ["task", "start"] : [
      ...(viaDeno ? ["serve", ...(jobs > 1 ? ["--parallel"] : [])] : ["run"]),
      "--allow-net",
      "--allow-env",
      ...(kvPath === undefined
        ? ["--allow-read=."]
        : [`--allow-read=.,${kvPath}`, `--allow-write=${kvPath}`]),
      viaDeno ? MAIN : NODE_MAIN,
    ],
    cwd: new URL("..", import.meta.url).pathname,
    env: {
      ...(viaDeno ? { DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}` } : {}),
      HERALD_ISOLATES: String(jobs),
      DENO_JOBS: String(jobs),
      PORT: String(port),
      HOSTNAME: "127.0.0.1",
      NO_COLOR: "1",
      UPDATE_INTERVAL_MS: "0",
      HEARTBEAT_MS: "0",
      ...options.env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      output += decoder.decode(chunk, { stream: true });
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const url = `http://127.0.0.1:${port}`;
  let exited: Deno.CommandStatus | null = null;
  const status = child.status.then((s) => (exited = s));
  const stop = async (signal: Deno.Signal = "SIGTERM", timeoutMs = 5000) => {
    if (exited === null) {
      try {
        child.kill(signal);
      } catch { /* gone */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, timeoutMs);
      await status;
      clearTimeout(timer);
    }
    await pumps;
    return exited!;
  };
  const process: HeraldProcess = {
    url,
    port,
    child,
    output: () => output,
    stop,
    async [Symbol.asyncDispose]() {
      // `deno task` would leave its children behind on SIGKILL.
      await stop(options.viaTask ? "SIGTERM" : "SIGKILL");
    },
  };
  // Every isolate must answer, not just know of the others: an isolate joins
  // the bus before its listener is up. Fresh connections reach any of them.
  const seen = new Set<string>();
  const probe = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  const deadline = Date.now() + 15_000;
  try {
    while (true) {
      if (exited !== null) {
        await pumps;
        throw new Error(
          `herald exited early (${
            (exited as Deno.CommandStatus).code
          }): ${output}`,
        );
      }
      try {
        const response = await fetch(`${url}/stats`, { client: probe });
        seen.add(String((await response.json()).isolate));
        if (seen.size >= jobs) return process;
        continue;
      } catch { /* not up yet */ }
      if (Date.now() > deadline) {
        await stop("SIGKILL");
        throw new Error(
          `herald did not start (${seen.size} of ${jobs} isolates answered): ${output}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    probe.close();
  }
}

/** A server process started by {@linkcode spawnListening}. */
export interface ListeningProcess {
  /** Stops it (SIGTERM), waits for it, and removes `dir`. */
  stop(): Promise<void>;
}

/**
 * Spawns `command` (a proxy or other server whose files live in `dir`) and
 * waits until 127.0.0.1:`port` accepts, for at most 10 s. If it exits or
 * never listens, it is stopped and the error says why: its stderr, plus
 * whatever `explain()` adds (a log file, the config).
 */
export async function spawnListening(
  what: string,
  command: Deno.Command,
  port: number,
  dir: string,
  explain: () => Promise<string> = () => Promise.resolve(""),
): Promise<ListeningProcess> {
  const child = command.spawn();
  const stderr = child.stderr === null
    ? Promise.resolve("")
    : new Response(child.stderr).text();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
    }
    await status;
    await stderr;
    await Deno.remove(dir, { recursive: true });
  };
  const deadline = Date.now() + 10_000;
  while (true) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return { stop };
    } catch {
      if (exited || Date.now() > deadline) {
        const more = await explain();
        await stop();
        throw new Error(`Cannot start ${what}: ${await stderr}${more}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
