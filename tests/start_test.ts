/** The commands a new user types: `deno task start`, its config errors, and the pinned version. */
import assert from "node:assert/strict";
import { collectOutput, freePort } from "./_process.ts";
import { eventually } from "./_server.ts";

const ROOT = new URL("..", import.meta.url).pathname;

function task(args: string[], env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("deno task start prints its URL, serves, and exits 0 on SIGTERM", async () => {
  const port = freePort();
  const child = task(["task", "start"], {
    PORT: String(port),
    HOSTNAME: "127.0.0.1",
  });
  const output = collectOutput(child);
  try {
    await eventually(
      () => output.text().includes(`http://127.0.0.1:${port}/`),
      15_000,
      "the URL",
    );
    assert.match(output.text(), /Listening on/);
    const stats = await (await fetch(`http://127.0.0.1:${port}/stats`)).json();
    assert.equal(stats.isolates, 1);
    child.kill("SIGTERM");
    const status = await child.status;
    assert.equal(status.code, 0, output.text());
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await output.done;
  }
});

for (
  const [env, message] of [
    [{ PORT: "abc" }, 'herald: Cannot read PORT: "abc" is not a port number'],
    [
      { HISTORY_SIZE: "-1" },
      'herald: Cannot read HISTORY_SIZE: "-1" is not a non-negative integer',
    ],
    [
      { ALLOWED_ORIGINS: "not an origin" },
      'herald: Cannot read ALLOWED_ORIGINS: "not an origin" is not an origin',
    ],
  ] as const
) {
  Deno.test(`deno task start refuses ${JSON.stringify(env)} with a clear message and exit status 2`, async () => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["task", "start"],
      cwd: ROOT,
      env: { NO_COLOR: "1", ...env },
      stdin: "null",
    }).output();
    assert.equal(output.code, 2);
    assert.ok(
      new TextDecoder().decode(output.stderr).includes(message),
      new TextDecoder().decode(output.stderr),
    );
  });
}

Deno.test("deno task start:parallel refuses HTTP_SERVER=node: node:http serves one isolate", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "start:parallel"],
    cwd: ROOT,
    env: { NO_COLOR: "1", HTTP_SERVER: "node" },
    stdin: "null",
  }).output();
  assert.equal(output.code, 2);
  assert.match(
    new TextDecoder().decode(output.stderr),
    /herald: Cannot use HTTP_SERVER=node with start:parallel/,
  );
});

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
