/** The commands a new user types: `deno task start`, its config errors, and the pinned version. */
import assert from "node:assert/strict";
import { freePort, spawnTask } from "./_process.ts";
import { eventually } from "./_server.ts";

const ROOT = new URL("..", import.meta.url).pathname;

const STARTS: ReadonlyArray<
  readonly [string, Readonly<Record<string, string>>, number]
> = [
  ["start", {}, 1],
  // node:http with one Worker per isolate on one port, the default of
  // start:parallel; a DENO_SERVE_ADDRESS left in the environment must not
  // reach node:http (it would listen there, without SO_REUSEPORT).
  [
    "start:parallel",
    { DENO_JOBS: "2", DENO_SERVE_ADDRESS: "tcp:0.0.0.0:9" },
    2,
  ],
  // The other server of each: deno serve, for one isolate and --parallel.
  ["start", { HTTP_SERVER: "deno" }, 1],
  ["start:parallel", { HTTP_SERVER: "deno", DENO_JOBS: "2" }, 2],
];

for (const [name, env, isolates] of STARTS) {
  Deno.test(`deno task ${name} ${JSON.stringify(env)} prints its URL, serves on ${isolates} isolate(s), and exits 0 on SIGTERM`, async () => {
    const port = freePort();
    await using task = spawnTask([name], {
      PORT: String(port),
      HOSTNAME: "127.0.0.1",
      ...env,
    });
    await eventually(
      () => task.output().includes(`Listening on http://127.0.0.1:${port}/`),
      15_000,
      "the URL",
    );
    // Isolates announce themselves on the bus within a presence period.
    await eventually(
      async () => {
        const response = await fetch(`http://127.0.0.1:${port}/stats`);
        const stats = await response.json();
        // The same count under its old and its new name.
        return stats.isolates === isolates && stats.instances === isolates;
      },
      10_000,
      `${isolates} isolate(s) in /stats`,
    );
    task.child.kill("SIGTERM");
    if (name === "start:parallel" && env.HTTP_SERVER === "deno") {
      // deno serve stays alive after the first signal until its streams end.
      task.child.kill("SIGTERM");
    }
    const status = await task.child.status;
    assert.equal(status.code, 0, task.output());
  });
}

const REFUSED: ReadonlyArray<
  readonly [string, Readonly<Record<string, string>>, string]
> = [
  [
    "start",
    { PORT: "abc" },
    'herald: Cannot read PORT: "abc" is not a port number',
  ],
  [
    "start",
    { HISTORY_SIZE: "-1" },
    'herald: Cannot read HISTORY_SIZE: "-1" is not a non-negative integer',
  ],
  [
    "start",
    { ALLOWED_ORIGINS: "not an origin" },
    'herald: Cannot read ALLOWED_ORIGINS: "not an origin" is not an origin',
  ],
  [
    "start",
    { HTTP_SERVER: "nginx" },
    'herald: Cannot read HTTP_SERVER: "nginx"',
  ],
  [
    "start",
    { JWT_SECRET: "too-short" },
    "herald: Cannot read JWT_SECRET: it is 9 bytes; at least 32 are needed",
  ],
  [
    "start",
    { JWT_ALGORITHMS: "none", JWT_SECRET: "s".repeat(32) },
    'herald: Cannot read JWT_ALGORITHMS: "none" is not an algorithm',
  ],
  [
    "start",
    { JWKS_URL: "http://keys.example/jwks.json" },
    "herald: Cannot read JWKS_URL:",
  ],
  // Well formed but not a key: found when the key is imported, still exit 2.
  [
    "start",
    {
      JWT_PUBLIC_KEY:
        "-----BEGIN PUBLIC KEY-----\\nbm90IGEga2V5\\n-----END PUBLIC KEY-----",
      // The key is imported after the listener is up: any free port.
      PORT: "0",
    },
    "herald: Cannot read JWT_PUBLIC_KEY: it is not a public key",
  ],
  // Mercure's two keys: each is read and imported under its own name.
  [
    "start",
    {
      MERCURE_PUBLISHER_JWT_KEY: "too-short",
      MERCURE_SUBSCRIBER_JWT_KEY: "s".repeat(32),
    },
    "herald: Cannot read MERCURE_PUBLISHER_JWT_KEY: it is 9 bytes; at least 32 are needed",
  ],
  [
    "start",
    {
      MERCURE_PUBLISHER_JWT_KEY: "s".repeat(32),
      MERCURE_SUBSCRIBER_JWT_KEY:
        "-----BEGIN PUBLIC KEY-----\\nbm90IGEga2V5\\n-----END PUBLIC KEY-----",
      PORT: "0",
    },
    "herald: Cannot read MERCURE_SUBSCRIBER_JWT_KEY: it is not a public key",
  ],
  // Bun's own variables are read before Bun is installed or anything built.
  [
    "start:bun",
    { BUN_WORKERS: "x" },
    'herald: Cannot read BUN_WORKERS: "x" is not a non-negative integer',
  ],
];

for (const [name, env, message] of REFUSED) {
  Deno.test(`deno task ${name} refuses ${JSON.stringify(env)} with a clear message and exit status 2`, async () => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["task", name],
      cwd: ROOT,
      // A free port, so that a refusal found after listening (a key that
      // does not import) is not hidden by another server on 8000.
      env: {
        NO_COLOR: "1",
        PORT: String(freePort()),
        HOSTNAME: "127.0.0.1",
        ...env,
      },
      stdin: "null",
    }).output();
    assert.equal(output.code, 2);
    assert.ok(
      new TextDecoder().decode(output.stderr).includes(message),
      new TextDecoder().decode(output.stderr),
    );
  });
}

Deno.test("the README and .ci/run use the pinned Deno version", async () => {
  const version = (await Deno.readTextFile(`${ROOT}.deno-version`)).trim();
  assert.match(version, /^\d+\.\d+\.\d+$/);
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const named = new Set(
    [...readme.matchAll(/deno@(\d+\.\d+\.\d+)/g)].map((m) => m[1]),
  );
  assert.deepEqual([...named], [version]);
  assert.match(
    readme,
    new RegExp(`npx -y deno@${version.replaceAll(".", "\\.")} task start`),
  );
  assert.match(
    readme,
    new RegExp(`npx -y deno@${version.replaceAll(".", "\\.")} task test`),
  );
  const ci = await Deno.readTextFile(`${ROOT}.ci/run`);
  assert.match(ci, /\.deno-version/);
  assert.match(ci, /task test/);
});
