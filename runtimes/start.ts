/**
 * @module `deno task start:bun`, `start:node` and `start:workerd`: checks the
 * config and the listen address as `deno task start` does (a bad value
 * stops here with one line and exit status 2), installs the runtime on first
 * use (runtimes/install.ts), bundles its entry (runtimes/build.ts), and runs
 * it on the resolved PORT and HOSTNAME with the same environment. SIGINT and
 * SIGTERM reach the entry, which drains; workerd cannot see signals, so the
 * launcher asks its hub to drain first (worker.ts's DRAIN_PATH), then stops
 * it. Deno-only.
 */
import denoJson from "../deno.json" with { type: "json" };
import { type Config, ConfigError } from "../lib/config.ts";
import { CONFIG_VARS } from "../lib/config_vars.ts";
import { startupLine } from "../lib/startup_line.ts";
import { exitWithConfigError, launchEnv } from "../adapters/deno_config.ts";
import {
  type ListenAddress,
  reserveConfiguredAddress,
} from "../adapters/listen_address.ts";
import { buildRuntime } from "./build.ts";
import { readBunOptions } from "./bun/bun_options.ts";
import { loadRuntimeConfig } from "./compose.ts";
import {
  ensureRuntime,
  RUNTIME_NAMES,
  type RuntimeName,
  RuntimeUnavailableError,
} from "./install.ts";
import { SHUTDOWN_DEADLINE_MS } from "./process_drain.ts";
import { DRAIN_PATH } from "./workerd/worker_env.ts";

const SERVER_NAMES: Record<RuntimeName, string> = {
  bun: "Bun.serve",
  node: "Node.js, node:http",
  workerd: "workerd, one Durable Object",
};

const name = Deno.args[0] as RuntimeName;
if (!RUNTIME_NAMES.includes(name) || Deno.args.length !== 1) {
  exitWithConfigError(
    `Cannot read the arguments: give one of ${RUNTIME_NAMES.join(", ")}`,
  );
}

const env = launchEnv(Deno.env.toObject(), Deno.hostname());
let config: Config;
let workers = 1;
try {
  config = loadRuntimeConfig(env);
  // Bun's own variables too, before anything is installed or bundled.
  if (name === "bun") workers = readBunOptions(env, config.port).workers;
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  exitWithConfigError(error.message);
}
const listen: ListenAddress = reserveConfiguredAddress(config, env);

let bin: string;
let bundle: string;
try {
  [bin, bundle] = await Promise.all([ensureRuntime(name), buildRuntime(name)]);
} catch (error) {
  // deno-lint-ignore no-console
  console.error(`herald: ${(error as Error).message}`);
  Deno.exit(error instanceof RuntimeUnavailableError ? 1 : 2);
}

// deno-lint-ignore no-console
console.log(startupLine(config, {
  version: denoJson.version,
  url: listen.url,
  isolates: workers,
  server: SERVER_NAMES[name],
}));

const drainToken = crypto.randomUUID();
const childEnv: Record<string, string> = {
  HERALD_HOSTNAME: listen.address,
  PORT: String(listen.port),
};
if (name === "workerd") {
  // workerd reads no environment of its own: herald's variables travel as
  // one JSON binding (herald.capnp), and only those.
  const known = new Set(CONFIG_VARS.map((v) => v.name));
  const vars: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...env, ...childEnv })) {
    if (known.has(key)) vars[key] = value;
  }
  childEnv.HERALD_ENV = JSON.stringify(vars);
  childEnv.HERALD_DRAIN_TOKEN = drainToken;
}
const args = name === "workerd"
  ? [
    "serve",
    new URL("./workerd/herald.capnp", import.meta.url).pathname,
    `--socket-addr=http=${listen.serveAddress.replace(/^tcp:/, "")}`,
  ]
  : [bundle];
const child = new Deno.Command(bin, {
  args,
  env: childEnv,
  stdin: "null",
}).spawn();

/** workerd: asks the hub to drain, then lets workerd end its requests and exit. */
async function stopWorkerd(signal: Deno.Signal): Promise<void> {
  try {
    const response = await fetch(new URL(DRAIN_PATH, listen.url), {
      method: "POST",
      headers: { authorization: `Bearer ${drainToken}` },
      signal: AbortSignal.timeout(SHUTDOWN_DEADLINE_MS),
    });
    await response.body?.cancel();
  } catch {
    // Not answering: stop it all the same.
  }
  kill(signal);
}

function kill(signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // Already gone.
  }
}

let signalled = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    if (signalled || name !== "workerd") {
      kill(signalled ? "SIGKILL" : signal);
    } else {
      void stopWorkerd(signal);
      // workerd waits for every open request: past the deadline, stop it.
      Deno.unrefTimer(
        setTimeout(() => kill("SIGKILL"), SHUTDOWN_DEADLINE_MS + 1000),
      );
    }
    signalled = true;
  });
}
const status = await child.status;
Deno.exit(status.code);
