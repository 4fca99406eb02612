/**
 * @module Test helper: a real `redis-server` on a free loopback port, in a
 * temporary directory, with no persistence unless asked. `await using` stops
 * it and removes the directory. The binary is `REDIS_SERVER` or
 * `redis-server` on PATH (`.ci/run` installs Debian's `redis-server`).
 */

/** Options for {@linkcode startRedis}. */
export interface StartRedisOptions {
  /**
   * Keep data in an append-only file (fsync on every write), so that a server
   * killed and started again finds its streams.
   *
   * @default {false}
   */
  persistence?: boolean;
  /**
   * How long to wait for the server to answer PING.
   *
   * @default {5000}
   */
  readyTimeoutMs?: number;
}

/** A running redis-server; dispose of it to stop it and remove its files. */
export interface RedisServer extends AsyncDisposable {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** The loopback port it listens on (kept across restarts). */
  readonly port: number;
  /** Its working directory (kept across restarts). */
  readonly dir: string;
  /** Whether the process is running. */
  readonly running: boolean;
  /** Kills the server at once (SIGKILL), like a crash. */
  kill(): Promise<void>;
  /** Stops the server as an operator would (SIGTERM, saves the AOF). */
  stop(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open and nothing answers. */
  pause(): void;
  /** Thaws a paused server (SIGCONT). */
  resume(): void;
  /** Starts the server again on the same port and directory. */
  start(): Promise<void>;
  /** Sends one command with redis-cli and returns its raw output. */
  cli(...args: string[]): Promise<string>;
}

/** Finds a loopback port that is free right now. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Resolves once the server at `port` answers PING, or throws after `timeoutMs`. */
async function waitForPong(
  port: number,
  timeoutMs: number,
  child: Deno.ChildProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.status.then(() => exited = true, () => exited = true);
  while (Date.now() < deadline) {
    if (exited) throw new Error("Cannot start redis-server: it exited");
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await conn.write(new TextEncoder().encode("PING\r\n"));
        const buffer = new Uint8Array(64);
        const read = await conn.read(buffer);
        const text = new TextDecoder().decode(buffer.subarray(0, read ?? 0));
        if (text.startsWith("+PONG")) return;
      } finally {
        conn.close();
      }
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(
    `Cannot start redis-server: no PONG on port ${port} after ${timeoutMs} ms`,
  );
}

/**
 * Starts a redis-server on a free loopback port.
 *
 * @example
 * ```ts ignore
 * await using redis = await startRedis();
 * const engine = await connectRedisEngine(redis.url, { historySize: 10 });
 * ```
 */
export async function startRedis(
  options: StartRedisOptions = {},
): Promise<RedisServer> {
  const { persistence = false, readyTimeoutMs = 5000 } = options;
  const binary = Deno.env.get("REDIS_SERVER") ?? "redis-server";
  const dir = await Deno.makeTempDir({ prefix: "herald_redis_" });
  const port = freePort();
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    persistence ? "yes" : "no",
    "--appendfsync",
    "always",
    "--protected-mode",
    "no",
    "--daemonize",
    "no",
    "--logfile",
    "",
    "--loglevel",
    "warning",
  ];
  let child: Deno.ChildProcess | null = null;

  async function start(): Promise<void> {
    if (child !== null) return;
    const spawned = new Deno.Command(binary, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    child = spawned;
    try {
      await waitForPong(port, readyTimeoutMs, spawned);
    } catch (error) {
      await halt("SIGKILL");
      throw error;
    }
  }

  async function halt(signal: Deno.Signal): Promise<void> {
    const current = child;
    if (current === null) return;
    child = null;
    try {
      current.kill(signal);
    } catch {
      // Already gone.
    }
    await current.status;
  }

  async function cli(...command: string[]): Promise<string> {
    const output = await new Deno.Command("redis-cli", {
      args: ["-h", "127.0.0.1", "-p", String(port), ...command],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return new TextDecoder().decode(output.stdout).trim();
  }

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get running() {
      return child !== null;
    },
    kill: () => halt("SIGKILL"),
    stop: () => halt("SIGTERM"),
    pause: () => child?.kill("SIGSTOP"),
    resume: () => child?.kill("SIGCONT"),
    start,
    cli,
    async [Symbol.asyncDispose]() {
      if (child !== null) child.kill("SIGCONT");
      await halt("SIGKILL");
      await Deno.remove(dir, { recursive: true });
    },
  };
}
