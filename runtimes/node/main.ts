/**
 * @module herald on Node.js 20+: the memory engine on one process, served by
 * adapters/node_http_server.ts (`node:http`), static files embedded. Built
 * into one file by runtimes/build.ts (`deno bundle`) and run with `node`;
 * `deno task start:node` does both. The only file that is Node's entry.
 */
import process from "node:process";
import { serveWithNodeHttp } from "../../adapters/node_http_server.ts";
import { composeRuntimeApp } from "../compose.ts";
import { installProcessDrain } from "../process_drain.ts";
import { runtimeConfigOrExit, runtimeEnv } from "../runtime_env.ts";

const config = runtimeConfigOrExit(runtimeEnv());
const app = await composeRuntimeApp(config);
const server = serveWithNodeHttp(app.fetch, {
  port: config.port,
  hostname: config.hostname,
  onListen({ hostname, port }) {
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    // deno-lint-ignore no-console
    console.log(
      `herald (Node.js ${process.version}): Listening on http://${host}:${port}/`,
    );
  },
});
installProcessDrain(app, () => server.shutdown());
