/**
 * @module How long a restart of one herald process leaves its port without a
 * listener: SIGTERM to a `deno serve main.ts` holding open streams, the drain,
 * the exit, and a new process started at once (as a supervisor with no restart
 * delay would) until it answers `GET /stats`. This is the gap a browser behind
 * a proxy with one upstream must not reconnect into (nginx answers 502 there,
 * and `EventSource` never retries a 502); the drain's `retry:` hint is chosen
 * from it (README, Deploy).
 *
 * `deno run -A bench/restart_time.ts [--runs 5] [--streams 50] [--redis redis://…]`
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "5" },
    streams: { type: "string", default: "50" },
    redis: { type: "string" },
  },
});
const runs = Number(values.runs);
const streams = Number(values.streams);
const root = new URL("..", import.meta.url).pathname;

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

function spawn(port: number): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "serve",
      "--allow-net",
      "--allow-env",
      "--allow-read=.",
      "main.ts",
    ],
    cwd: root,
    env: {
      DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`,
      HEARTBEAT_MS: "0",
      UPDATE_INTERVAL_MS: "0",
      ...(values.redis ? { REDIS_URL: values.redis } : {}),
    },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function waitUp(url: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/stats`);
      await response.body?.cancel();
      if (response.ok) return;
    } catch { /* not yet */ }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`Cannot reach herald at ${url}`);
}

const port = freePort();
const url = `http://127.0.0.1:${port}`;
let child = spawn(port);
await waitUp(url);
const drains: number[] = [];
const gaps: number[] = [];
for (let run = 0; run < runs; run++) {
  const controllers: AbortController[] = [];
  for (let i = 0; i < streams; i++) {
    const controller = new AbortController();
    const response = await fetch(`${url}/events`, {
      signal: controller.signal,
    });
    // Read to the end, as a browser would, so the drain can finish.
    void response.body?.pipeTo(new WritableStream()).catch(() => {});
    controllers.push(controller);
  }
  const started = performance.now();
  child.kill("SIGTERM");
  await child.status;
  const exited = performance.now();
  child = spawn(port);
  await waitUp(url);
  const up = performance.now();
  drains.push(exited - started);
  gaps.push(up - started);
  for (const controller of controllers) controller.abort();
}
child.kill("SIGTERM");
await child.status;

const fmt = (xs: number[]) =>
  `min ${Math.min(...xs).toFixed(0)}, median ${
    [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(0)
  }, max ${Math.max(...xs).toFixed(0)} ms`;
// deno-lint-ignore no-console
console.log(
  `${runs} restarts, ${streams} streams, 1 isolate${
    values.redis ? ", Redis" : ""
  }\n` +
    `  SIGTERM to exit:            ${fmt(drains)}\n` +
    `  SIGTERM to the new process answering: ${fmt(gaps)}`,
);
