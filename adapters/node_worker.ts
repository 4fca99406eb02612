/**
 * @module One isolate of `deno task start:parallel` (adapters/node_main.ts
 * starts one Worker per isolate): composes the app and serves it through
 * `node:http` on the shared port with SO_REUSEPORT; says "listening" when
 * it listens, drains when told to, and says "drained" once its streams are
 * ended and its server closed. Deno-only.
 */
import { composeApp } from "./compose.ts";
import { loadConfigOrExit } from "./deno_config.ts";
import { serveWithNodeHttp } from "./node_http_server.ts";
import { consoleLogger } from "../lib/log.ts";

/** The Worker's side of its channel to node_main.ts. */
const parent = globalThis as unknown as {
  postMessage(message: { type: "listening" | "drained" }): void;
  onmessage:
    | ((event: MessageEvent<{ type: string; signal?: string }>) => void)
    | null;
};

const config = loadConfigOrExit();
const app = await composeApp(config);
const server = serveWithNodeHttp(app.fetch, {
  port: config.port,
  hostname: config.hostname,
  reusePort: true,
  onListen: () => parent.postMessage({ type: "listening" }),
});
parent.onmessage = (event) => {
  if (event.data.type !== "drain") return;
  consoleLogger.log("info", "Draining: ending every stream with a retry hint", {
    signal: event.data.signal,
  });
  void Promise.all([app.close(), server.shutdown()]).then(() =>
    parent.postMessage({ type: "drained" })
  );
};
