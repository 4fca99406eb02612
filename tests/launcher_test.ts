/**
 * The launcher's front door over the real process: `--help`, `--version`,
 * the start-up line, host names, and every start-up error as one line with
 * exit status 2 and nothing left listening.
 */
import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { launchEnv } from "../adapters/deno_config.ts";
import { CONFIG_VARS } from "../lib/config_vars.ts";
import { freePort, spawnTask } from "./_process.ts";
import { eventually } from "./_server.ts";

const ROOT = new URL("..", import.meta.url).pathname;

async function runTask(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** The lines a task printed besides deno task's own "Task start …" echo. */
function ownLines(text: string): string[] {
  return text.split("\n").filter((line) =>
    line !== "" && !line.startsWith("Task ")
  );
}

async function refused(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return false;
  } catch {
    return true;
  }
}

Deno.test("deno task start --help prints every variable with its default", async () => {
  const { code, stdout } = await runTask(["start", "--help"], {});
  assert.equal(code, 0);
  for (const v of CONFIG_VARS) {
    assert.match(
      stdout,
      new RegExp(`^  ${v.name} +${RegExp.escape(v.fallback)} `, "m"),
    );
  }
  // Every variable the config and the launcher read is listed.
  const sources = await Promise.all(
    [
      "lib/config.ts",
      "lib/auth/auth_config.ts",
      "lib/mercure/mercure_config.ts",
      "adapters/launcher.ts",
      "adapters/deno_config.ts",
      "runtimes/start.ts",
      "runtimes/bun/main.ts",
    ].map(
      (path) => Deno.readTextFile(`${ROOT}${path}`),
    ),
  );
  const read = new Set<string>();
  for (const source of sources) {
    for (const match of source.matchAll(/env(?:\.|\[")([A-Z][A-Z0-9_]+)/g)) {
      read.add(match[1]!);
    }
    for (const match of source.matchAll(/\(\s*env,\s*"([A-Z][A-Z0-9_]+)"/g)) {
      read.add(match[1]!);
    }
  }
  assert.ok(read.size >= 10, [...read].join());
  const listed = new Set(CONFIG_VARS.map((v) => v.name));
  for (const name of read) {
    assert.ok(listed.has(name), `${name} is not in --help`);
  }
});

Deno.test("deno task start --version prints herald's version", async () => {
  const { code, stdout } = await runTask(["start", "--version"], {});
  assert.equal(code, 0);
  assert.deepEqual(ownLines(stdout), [`herald ${denoJson.version}`]);
});

Deno.test("deno task start resolves HOSTNAME=localhost and prints one line of effective config", async () => {
  const port = freePort();
  await using task = spawnTask(["start"], {
    PORT: String(port),
    HOSTNAME: "localhost",
    PUBLISH_TOKEN: "s3cret-token",
    ALLOWED_ORIGINS: "https://a.example",
  });
  try {
    await eventually(
      () => task.output().includes("herald (node:http): Listening on"),
      15_000,
      "node:http listening",
    );
    await checkStartupLine(task.output(), port);
  } finally {
    // SIGTERM reaches the launcher and its server through deno task (SIGKILL would orphan them).
    task.child.kill("SIGTERM");
    await task.child.status;
  }
});

async function checkStartupLine(output: string, port: number): Promise<void> {
  const line = ownLines(output).find((l) => l.startsWith("herald "));
  assert.ok(line !== undefined, output);
  assert.ok(
    line.startsWith(
      `herald ${denoJson.version} serving http://127.0.0.1:${port}/ (node:http, 1 isolate): engine memory, publish token, history 1000 events per topic`,
    ),
    line,
  );
  assert.match(line, /origins https:\/\/a\.example$/);
  assert.ok(!line.includes("s3cret"), "the token is never printed");
  const response = await fetch(`http://127.0.0.1:${port}/stats`);
  assert.equal(response.status, 200);
  await response.body?.cancel();
}

const REFUSED: ReadonlyArray<
  readonly [Readonly<Record<string, string>>, string]
> = [
  [
    { HOSTNAME: "no-such-host.invalid" },
    'herald: Cannot read HOSTNAME: "no-such-host.invalid" does not resolve to an address',
  ],
  // TEST-NET-1: never an address of this machine.
  [
    { HERALD_HOSTNAME: "192.0.2.1", HOSTNAME: "127.0.0.1" },
    'herald: Cannot listen on 192.0.2.1:PORT (HERALD_HOSTNAME): "192.0.2.1" is not an address of this machine',
  ],
  [
    { HOSTNAME: "127.0.0.1", REDIS_URL: "redis://127.0.0.1:REDISPORT" },
    "herald: Cannot use REDIS_URL: Cannot connect to Redis at redis://127.0.0.1:REDISPORT",
  ],
  [
    { HOSTNAME: "127.0.0.1", TLS_CERT_FILE: "/nonexistent/cert.pem" },
    "herald: Cannot serve TLS: set both TLS_CERT_FILE and TLS_KEY_FILE (TLS_KEY_FILE is unset)",
  ],
  [
    {
      HOSTNAME: "127.0.0.1",
      TLS_CERT_FILE: "/nonexistent/cert.pem",
      TLS_KEY_FILE: "/nonexistent/key.pem",
    },
    'herald: Cannot read TLS_CERT_FILE: "/nonexistent/cert.pem": No such file or directory',
  ],
  [
    { HOSTNAME: "127.0.0.1", METRICS_TOKEN: "two words" },
    "herald: Cannot read METRICS_TOKEN: it must be visible ASCII with no spaces",
  ],
];

for (const [env, message] of REFUSED) {
  Deno.test(`deno task start refuses ${JSON.stringify(env)} with one line, exit 2, nothing listening`, async () => {
    const port = freePort();
    const redisPort = String(freePort());
    const fill = (text: string) =>
      text.replaceAll("REDISPORT", redisPort).replaceAll("PORT", String(port));
    const { code, stdout, stderr } = await runTask(
      ["start"],
      {
        PORT: String(port),
        ...Object.fromEntries(
          Object.entries(env).map(([k, v]) => [k, fill(v)]),
        ),
      },
    );
    assert.equal(code, 2, stderr);
    const lines = ownLines(stderr);
    assert.equal(lines.length, 1, stderr);
    assert.ok(lines[0]!.startsWith(fill(message)), stderr);
    assert.ok(!stdout.includes("Listening"), stdout);
    assert.ok(await refused(port));
  });
}

Deno.test("deno task start on a port in use says which address and port, and exits 2", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  for (const server of ["deno", "node"]) {
    const { code, stderr } = await runTask(["start"], {
      PORT: String(port),
      HOSTNAME: "127.0.0.1",
      HTTP_SERVER: server,
    });
    assert.equal(code, 2, stderr);
    assert.deepEqual(ownLines(stderr), [
      `herald: Cannot listen on 127.0.0.1:${port} (HOSTNAME, PORT): the port is in use`,
    ]);
  }
});

Deno.test("launchEnv() drops HOSTNAME when it is the machine's own name, never HERALD_HOSTNAME", () => {
  assert.deepEqual(launchEnv({ HOSTNAME: "c0ffee", PORT: "1" }, "c0ffee"), {
    PORT: "1",
  });
  assert.deepEqual(launchEnv({ HOSTNAME: "127.0.0.1" }, "c0ffee"), {
    HOSTNAME: "127.0.0.1",
  });
  assert.deepEqual(
    launchEnv({ HOSTNAME: "c0ffee", HERALD_HOSTNAME: "::1" }, "c0ffee"),
    { HOSTNAME: "c0ffee", HERALD_HOSTNAME: "::1" },
  );
});
