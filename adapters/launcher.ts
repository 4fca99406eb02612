/**
 * @module `deno task start` and `deno task start:parallel`: answers `--help`
 * and `--version`, checks the config and the listen address (a bad value, a
 * name that does not resolve or a port in use stops here with one line and
 * exit status 2), prints the effective configuration, then serves on the
 * resolved address: through node:http by default (adapters/node_main.ts,
 * with one Worker per core, or DENO_JOBS, under `--parallel`), or with
 * `HTTP_SERVER=deno` main.ts under `deno serve` (`--parallel` likewise).
 * Signals pass through, so a drain works the same in both modes. Deno-only.
 */
import denoJson from "../deno.json" with { type: "json" };
import { helpText } from "../lib/config_vars.ts";
import { startupLine } from "../lib/startup_line.ts";
import {
  exitWithConfigError,
  launchEnv,
  loadConfigOrExit,
} from "./deno_config.ts";
import {
  type ListenAddress,
  reserveConfiguredAddress,
} from "./listen_address.ts";
import { heapFlags } from "./v8_flags.ts";

const version: string = denoJson.version;
if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
  // deno-lint-ignore no-console
  console.log(helpText(version));
  Deno.exit(0);
}
if (Deno.args.includes("--version") || Deno.args.includes("-V")) {
  // deno-lint-ignore no-console
  console.log(`herald ${version}`);
  Deno.exit(0);
}
const unknown = Deno.args.filter((arg) => arg !== "--parallel");
if (unknown.length > 0) {
  exitWithConfigError(
    `Cannot read the arguments: ${
      JSON.stringify(unknown[0])
    } is not --help, --version or --parallel`,
  );
}

const env = launchEnv(Deno.env.toObject(), Deno.hostname());
const config = loadConfigOrExit(env);
const parallel = Deno.args.includes("--parallel");
// HTTP_SERVER: both tasks serve through node:http by default
// (adapters/node_main.ts: 15–18 KiB per idle stream against 60 through
// deno serve, whose ReadableStream bodies each hold a 1,024-slot ring in
// Deno 2.9), `start:parallel` with one Worker per isolate on one port;
// HTTP_SERVER=deno serves either through deno serve (BENCHMARKS.md, run H).
// The Workers share their port with SO_REUSEPORT, which spreads connections
// only on Linux: elsewhere start:parallel keeps deno serve --parallel, which
// shares one listener between its isolates.
const httpServerSet = Deno.env.get("HTTP_SERVER");
const httpServer = httpServerSet ??
  (parallel && Deno.build.os !== "linux" ? "deno" : "node");
if (httpServer !== "deno" && httpServer !== "node") {
  // deno-lint-ignore no-console
  console.error(
    `herald: Cannot read HTTP_SERVER: ${
      JSON.stringify(httpServer)
    } is not "node" or "deno"`,
  );
  Deno.exit(2);
}
// TLS_CERT_FILE and TLS_KEY_FILE: one isolate behind Deno.serve with TLS and
// HTTP/2 (adapters/tls_main.ts).
const tlsCert = env.TLS_CERT_FILE ?? "";
const tlsKey = env.TLS_KEY_FILE ?? "";
const viaTls = tlsCert !== "" || tlsKey !== "";
if (viaTls && (tlsCert === "" || tlsKey === "")) {
  exitWithConfigError(
    `Cannot serve TLS: set both TLS_CERT_FILE and TLS_KEY_FILE (${
      tlsCert === "" ? "TLS_CERT_FILE" : "TLS_KEY_FILE"
    } is unset)`,
  );
}
if (viaTls && (parallel || httpServerSet === "node")) {
  exitWithConfigError(
    "Cannot serve TLS with start:parallel or HTTP_SERVER=node: TLS serves one isolate through Deno.serve",
  );
}
const viaNode = httpServer === "node" && !viaTls;
// One isolate per core unless DENO_JOBS says otherwise (as deno serve --parallel).
const isolates = parallel
  ? Math.max(1, Number(env.DENO_JOBS ?? "") || navigator.hardwareConcurrency)
  : 1;
const listen: ListenAddress = reserveConfiguredAddress(config, env);
// deno-lint-ignore no-console
console.log(startupLine(config, {
  version,
  url: viaTls ? listen.url.replace("http:", "https:") : listen.url,
  isolates: parallel ? (viaNode ? isolates : (env.DENO_JOBS ?? "cores")) : 1,
  server: viaTls ? "TLS, HTTP/2" : viaNode ? "node:http" : "deno serve",
}));
// A bounded young generation: see v8_flags.ts.
const v8Flags = heapFlags(Deno.env.toObject());
// KV_PATH: the kv engine's file, and only it, may be read and written.
const files = config.kvPath === null
  ? ["--allow-read=."]
  : [`--allow-read=.,${config.kvPath}`, `--allow-write=${config.kvPath}`];
const child = new Deno.Command(Deno.execPath(), {
  args: viaTls
    ? [
      "run",
      ...v8Flags,
      "--allow-net",
      "--allow-env",
      `--allow-read=.,${tlsCert},${tlsKey}`,
      new URL("./tls_main.ts", import.meta.url).pathname,
    ]
    : viaNode
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
  // The resolved address. DENO_SERVE_ADDRESS only for Deno.serve: node:http's
  // listen honours it too, and would then listen on it without SO_REUSEPORT,
  // so one already in the environment is not passed on to node:http.
  clearEnv: true,
  env: {
    ...withoutServeAddress(Deno.env.toObject()),
    ...(viaNode ? {} : { DENO_SERVE_ADDRESS: listen.serveAddress }),
    HERALD_ISOLATES: String(isolates),
    HERALD_HOSTNAME: listen.address,
    PORT: String(listen.port),
  },
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

/** The environment without DENO_SERVE_ADDRESS (the launcher sets its own). */
function withoutServeAddress(
  vars: Record<string, string>,
): Record<string, string> {
  const { DENO_SERVE_ADDRESS: _ignored, ...rest } = vars;
  return rest;
}
