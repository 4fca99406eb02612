/**
 * @module `deno task start` and `deno task start:parallel`: checks the config
 * (a bad value stops here with a clear message), then runs main.ts under
 * `deno serve` on PORT and HOSTNAME, with `--parallel` (one isolate per core,
 * or DENO_JOBS) when asked. Signals pass through, so a drain works the same
 * in both modes. Deno-only.
 */
import { loadConfigOrExit } from "./deno_config.ts";
import { heapFlags } from "./v8_flags.ts";

const config = loadConfigOrExit();
const host = config.hostname.includes(":")
  ? `[${config.hostname}]`
  : config.hostname;
const parallel = Deno.args.includes("--parallel");
const httpServer = Deno.env.get("HTTP_SERVER") ?? "deno";
if (httpServer !== "deno" && httpServer !== "node") {
  // deno-lint-ignore no-console
  console.error(
    `herald: Cannot read HTTP_SERVER: ${
      JSON.stringify(httpServer)
    } is not "deno" or "node"`,
  );
  Deno.exit(2);
}
if (httpServer === "node" && parallel) {
  // deno-lint-ignore no-console
  console.error(
    "herald: Cannot use HTTP_SERVER=node with start:parallel: node:http serves one isolate",
  );
  Deno.exit(2);
}
// HTTP_SERVER=node: one isolate behind node:http (adapters/node_main.ts).
const viaNode = httpServer === "node";
// A bounded young generation: see v8_flags.ts.
const v8Flags = heapFlags(Deno.env.toObject());
// KV_PATH: the kv engine's file, and only it, may be read and written.
const files = config.kvPath === null
  ? ["--allow-read=."]
  : [`--allow-read=.,${config.kvPath}`, `--allow-write=${config.kvPath}`];
const child = new Deno.Command(Deno.execPath(), {
  args: viaNode
    ? [
      "run",
      ...v8Flags,
      "--allow-net",
      "--allow-env",
      ...files,
      new URL("./node_main.ts", import.meta.url).pathname,
    ]
    : [
      "serve",
      ...(parallel ? ["--parallel"] : []),
      ...v8Flags,
      "--allow-net",
      "--allow-env",
      ...files,
      new URL("../main.ts", import.meta.url).pathname,
    ],
  env: { DENO_SERVE_ADDRESS: `tcp:${host}:${config.port}` },
  stdin: "null",
}).spawn();

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  });
}
const status = await child.status;
Deno.exit(status.code);
