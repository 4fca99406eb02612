/**
 * @module Test helper: a real Caddy (Debian's `caddy`, installed by `.ci/run`)
 * in front of herald, configured with the README's Caddyfile snippet, on a
 * free loopback port, with the test's own certificate (no ACME, no admin
 * endpoint, no redirect listener on port 80). `await using` stops it and
 * removes its directory. The binary is `CADDY`, else `caddy` on PATH.
 */
import { freePort, spawnListening } from "./_process.ts";

/** A running Caddy; dispose of it to stop it and remove its files. */
export interface CaddyProxy extends AsyncDisposable {
  /** `https://127.0.0.1:<port>`. */
  readonly url: string;
}

/** The README's Caddyfile snippet (its first `caddy` block). */
export async function readmeCaddyfile(): Promise<string> {
  const readme = await Deno.readTextFile(
    new URL("../README.md", import.meta.url),
  );
  const block = /```caddy\n([\s\S]*?)```/.exec(readme)?.[1];
  if (block === undefined) {
    throw new Error("Cannot find the Caddyfile: no caddy block in README.md");
  }
  return block;
}

/**
 * Starts Caddy with the README's snippet, its site address and upstream
 * replaced by a free port and `upstream`, serving `tls`; waits until it listens.
 */
export async function startCaddy(
  upstream: number,
  tls: { cert: string; key: string },
): Promise<CaddyProxy> {
  const dir = await Deno.makeTempDir({ prefix: "herald_caddy_" });
  const port = freePort();
  const site = (await readmeCaddyfile())
    .replace(
      "hub.example {",
      `https://127.0.0.1:${port} {\n  tls ${tls.cert} ${tls.key}`,
    )
    .replace("127.0.0.1:8000", `127.0.0.1:${upstream}`);
  const config = `{\n  admin off\n  auto_https off\n}\n${site}`;
  await Deno.writeTextFile(`${dir}/Caddyfile`, config);
  const { stop } = await spawnListening(
    "caddy",
    new Deno.Command(Deno.env.get("CADDY") ?? "caddy", {
      args: ["run", "--config", `${dir}/Caddyfile`, "--adapter", "caddyfile"],
      env: { HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }),
    port,
    dir,
    () => Promise.resolve(`\n${config}`),
  );
  return { url: `https://127.0.0.1:${port}`, [Symbol.asyncDispose]: stop };
}
