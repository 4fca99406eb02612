/**
 * @module herald served through `node:http` (the default of `deno task
 * start` and `deno task start:parallel`): the same app as main.ts (config,
 * bus, history, assets, handler) at about a quarter of the memory per open
 * stream of `deno serve` (BENCHMARKS.md). With `HERALD_ISOLATES` above 1
 * (the launcher sets it for `--parallel`), it runs that many Workers, each
 * its own isolate and app listening on the same port with SO_REUSEPORT
 * (adapters/node_worker.ts), with the BroadcastChannel bus between them;
 * signals reach them from here. Run by the
 * launcher as `deno run --allow-net --allow-env --allow-read=.
 * adapters/node_main.ts`. Deno-only.
 */
import { composeApp, installDrain } from "./compose.ts";
import { loadConfigOrExit } from "./deno_config.ts";
import { serveWithNodeHttp } from "./node_http_server.ts";

/** How long a drain may take before the process exits anyway (as compose.ts). */
const SHUTDOWN_DEADLINE_MS = 3000;

const config = loadConfigOrExit();
const isolates = Math.max(1, Number(Deno.env.get("HERALD_ISOLATES") ?? "1"));
const host = config.hostname.includes(":")
  ? `[${config.hostname}]`
  : config.hostname;

function listening(port: number, count: number): void {
  // deno-lint-ignore no-console
  console.log(
    `herald (node:http): Listening on http://${host}:${port}/${
      count > 1 ? ` with ${count} isolates` : ""
    }`,
  );
}

if (isolates === 1) {
  const app = await composeApp(config);
  const server = serveWithNodeHttp(app.fetch, {
    port: config.port,
    hostname: config.hostname,
    onListen: ({ port }) => listening(port, 1),
  });
  installDrain(app, () => server.shutdown());
} else {
  const workers = Array.from(
    { length: isolates },
    (_, i) =>
      new Worker(new URL("./node_worker.ts", import.meta.url), {
        type: "module",
        name: `herald-${i + 1}`,
      }),
  );
  let ready = 0;
  const up = () => {
    ready += 1;
    if (ready === isolates) listening(config.port, isolates);
  };
  const drained = workers.map((worker) =>
    new Promise<void>((resolve, reject) => {
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
      worker.onmessage = (event: MessageEvent<{ type: string }>) => {
        if (event.data.type === "listening") up();
        if (event.data.type === "drained") resolve();
      };
    })
  );
  Promise.all(drained).then(() => Deno.exit(0), (error) => {
    // deno-lint-ignore no-console
    console.error(`herald: an isolate failed: ${error.message}`);
    Deno.exit(1);
  });
  let stopping = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      if (stopping) Deno.exit(1);
      stopping = true;
      // Each isolate logs its own drain.
      Deno.unrefTimer(setTimeout(() => Deno.exit(0), SHUTDOWN_DEADLINE_MS));
      for (const worker of workers) {
        worker.postMessage({ type: "drain", signal });
      }
    });
  }
}
