/** `deno task token`: a development token the server accepts, and clear refusals. */
import assert from "node:assert/strict";
import { readAuthConfig } from "../lib/auth/auth_config.ts";
import { createTokenVerifier } from "../lib/auth/token_verifier.ts";
import { parseTtl } from "../tools/token.ts";
import { SECRET } from "./_tokens.ts";

const ROOT = new URL("..", import.meta.url).pathname;

async function task(args: string[], env: Record<string, string>) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "token", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    clearEnv: false,
    stdin: "null",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout).trim(),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("parseTtl() reads s, m, h and d, and nothing else", () => {
  assert.equal(parseTtl("90s"), 90);
  assert.equal(parseTtl("30m"), 1800);
  assert.equal(parseTtl("1h"), 3600);
  assert.equal(parseTtl("7d"), 604800);
  for (const bad of ["", "1", "0h", "1w", "-1h", "1.5h", "h"]) {
    assert.equal(parseTtl(bad), null, bad);
  }
});

Deno.test("deno task token prints a token with the asked grants and ttl that herald verifies", async () => {
  const result = await task(
    [
      "--subscribe",
      "users/42/*",
      "--subscribe",
      "news",
      "--publish",
      "users/42/*",
      "--ttl",
      "2h",
      "--payload",
      '{"user":42}',
    ],
    { JWT_SECRET: SECRET, JWT_ISSUER: "https://app.example" },
  );
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  const verifier = createTokenVerifier(
    readAuthConfig({ JWT_SECRET: SECRET, JWT_ISSUER: "https://app.example" }),
  );
  const grants = await verifier.verify(result.stdout);
  assert.ok(grants.maySubscribe("users/42/x") && grants.maySubscribe("news"));
  assert.ok(grants.mayPublish("users/42/x") && !grants.mayPublish("news"));
  assert.deepEqual(grants.payload, { user: 42 });
  const hours = (grants.expiresAt - Date.now()) / 3_600_000;
  assert.ok(hours > 1.9 && hours <= 2, String(hours));
});

Deno.test("deno task token refuses a short secret and a bad --ttl with exit status 2", async () => {
  const short = await task(["--subscribe", "*"], { JWT_SECRET: "short" });
  assert.equal(short.code, 2);
  assert.match(short.stderr, /Cannot read JWT_SECRET: it is 5 bytes/);
  assert.equal(short.stdout, "");
  const ttl = await task(["--ttl", "forever"], { JWT_SECRET: SECRET });
  assert.equal(ttl.code, 2);
  assert.match(ttl.stderr, /Cannot read --ttl: "forever"/);
});
