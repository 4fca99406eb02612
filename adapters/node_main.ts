/**
 * @module herald served through `node:http` instead of `deno serve`: the same
 * app as main.ts (config, bus, history, assets, handler), one isolate, about
 * a third of the memory per open stream and somewhat less throughput
 * (BENCHMARKS.md). `HTTP_SERVER=node deno task start`
 * runs it (`deno run --allow-net --allow-env --allow-read=.
 * adapters/node_main.ts`). Deno-only.
 */
import { composeApp, installDrain } from "./compose.ts";
import { loadConfigOrExit } from "./deno_config.ts";
import { serveWithNodeHttp } from "./node_http_server.ts";

const config = loadConfigOrExit();
const app = await composeApp(config);

const server = serveWithNodeHttp(app.fetch, {
  port: config.port,
  hostname: config.hostname,
  onListen({ hostname, port }) {
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    // deno-lint-ignore no-console
    console.log(`herald (node:http): Listening on http://${host}:${port}/`);
  },
});

installDrain(app, () => server.shutdown());
