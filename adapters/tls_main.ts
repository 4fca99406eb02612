/**
 * @module herald over HTTPS, with HTTP/2 offered by ALPN (and HTTP/1.1 for
 * clients without it): the same app as main.ts in one isolate behind
 * `Deno.serve` with a certificate, since `deno serve` has no TLS options.
 * The launcher runs it when `TLS_CERT_FILE` and `TLS_KEY_FILE` are set
 * (`deno run --allow-net --allow-env --allow-read=. adapters/tls_main.ts`,
 * plus read access to the two files). Over HTTP/2 a browser multiplexes
 * every stream of a site on one connection, past HTTP/1.1's six. Deno-only.
 */
import { composeApp, installDrain } from "./compose.ts";
import { exitWithConfigError, loadConfigOrExit } from "./deno_config.ts";

const config = loadConfigOrExit();
const certFile = Deno.env.get("TLS_CERT_FILE") ?? "";
const keyFile = Deno.env.get("TLS_KEY_FILE") ?? "";

function readPem(name: string, path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    exitWithConfigError(
      `Cannot read ${name}: "${path}": ${(error as Error).message}`,
    );
  }
}

const cert = readPem("TLS_CERT_FILE", certFile);
const key = readPem("TLS_KEY_FILE", keyFile);
const app = await composeApp(config);
let server: Deno.HttpServer;
try {
  server = Deno.serve({
    port: config.port,
    hostname: config.hostname,
    cert,
    key,
    onListen({ hostname, port }) {
      const host = hostname.includes(":") ? `[${hostname}]` : hostname;
      // deno-lint-ignore no-console
      console.log(
        `herald (TLS, HTTP/2): Listening on https://${host}:${port}/`,
      );
    },
  }, app.fetch);
} catch (error) {
  exitWithConfigError(
    `Cannot serve TLS with TLS_CERT_FILE and TLS_KEY_FILE: ${
      (error as Error).message
    }`,
  );
}
installDrain(app, () => server.shutdown());
