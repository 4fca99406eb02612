/**
 * The deployment files in deploy/: the systemd unit passes `systemd-analyze
 * verify`, and the Dockerfile's steps replayed without a container runtime
 * (its COPY lines into a fresh folder, its RUN, its ENV, ENTRYPOINT, CMD and
 * HEALTHCHECK) give a herald that answers /healthz and drains on SIGTERM.
 */
import assert from "node:assert/strict";
import { collectOutput, freePort } from "./_process.ts";
import { eventually } from "./_server.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("deploy/herald.service passes systemd-analyze verify with no warning", async () => {
  const unit = (await Deno.readTextFile(`${ROOT}deploy/herald.service`))
    .replaceAll("/usr/local/bin/deno", Deno.execPath());
  const dir = await Deno.makeTempDir({ prefix: "herald_unit_" });
  try {
    await Deno.writeTextFile(`${dir}/herald.service`, unit);
    const output = await new Deno.Command("systemd-analyze", {
      args: ["verify", `${dir}/herald.service`],
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.equal(stderr, "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The Dockerfile's instructions, continuation lines joined. */
function instructions(text: string): Array<[string, string]> {
  const joined = text.replace(/\\\n\s*/g, " ");
  return joined.split("\n")
    .filter((line) => line.trim() !== "" && !line.startsWith("#"))
    .map((line) => {
      const space = line.indexOf(" ");
      return [line.slice(0, space), line.slice(space + 1).trim()];
    });
}

function execForm(argument: string): string[] {
  const list: unknown = JSON.parse(argument);
  assert.ok(Array.isArray(list), `${argument} is not in exec form`);
  return (list as string[]).map((part) =>
    part === "deno" ? Deno.execPath() : part
  );
}

Deno.test("deploy/Dockerfile's steps, replayed without docker, serve /healthz and drain on SIGTERM", async () => {
  const steps = instructions(
    await Deno.readTextFile(`${ROOT}deploy/Dockerfile`),
  );
  const app = await Deno.makeTempDir({ prefix: "herald_image_" });
  try {
    const env: Record<string, string> = {};
    let entrypoint: string[] = [];
    let cmd: string[] = [];
    let health: string[] = [];
    for (const [op, argument] of steps) {
      if (op === "COPY") {
        const parts = argument.split(/\s+/);
        const target = parts.pop()!;
        for (const source of parts) {
          const to = target === "./" ? `${app}/${source}` : `${app}/${target}`;
          await new Deno.Command("cp", {
            args: ["-r", `${ROOT}${source}`, to],
          }).output();
        }
      } else if (op === "RUN") {
        const [program, ...args] = argument.split(/\s+/);
        assert.equal(program, "deno");
        const run = await new Deno.Command(Deno.execPath(), {
          args,
          cwd: app,
          env: { NO_COLOR: "1" },
          stdin: "null",
        }).output();
        assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
      } else if (op === "ENV") {
        for (const match of argument.matchAll(/([A-Z_]+)=(\S+)/g)) {
          env[match[1]!] = match[2]!;
        }
      } else if (op === "ENTRYPOINT") entrypoint = execForm(argument);
      else if (op === "CMD") cmd = execForm(argument);
      else if (op === "HEALTHCHECK") {
        health = execForm(argument.slice(argument.indexOf("CMD ") + 4));
      }
    }
    assert.ok(entrypoint.length > 0 && health.length > 0);
    assert.equal(env.HERALD_HOSTNAME, "0.0.0.0");
    const port = freePort();
    // As in a container: HOSTNAME is the machine's name; loopback for the test.
    const containerEnv = {
      ...env,
      NO_COLOR: "1",
      HOSTNAME: Deno.hostname(),
      HERALD_HOSTNAME: "127.0.0.1",
      PORT: String(port),
      UPDATE_INTERVAL_MS: "0",
    };
    const child = new Deno.Command(entrypoint[0]!, {
      args: [...entrypoint.slice(1), ...cmd],
      cwd: app,
      env: containerEnv,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = collectOutput(child);
    try {
      await eventually(
        () => output.text().includes(`Listening on http://127.0.0.1:${port}/`),
        15_000,
        "the image's herald to listen",
      );
      const check = await new Deno.Command(health[0]!, {
        args: health.slice(1),
        env: containerEnv,
        stdin: "null",
      }).output();
      assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
    } finally {
      child.kill("SIGTERM");
      const status = await child.status;
      await output.done;
      assert.equal(status.code, 0, output.text());
      assert.match(output.text(), /Draining/);
    }
  } finally {
    await Deno.remove(app, { recursive: true });
  }
});
