import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../lib/config.ts";

Deno.test("loadConfig() reads the token settings", () => {
  const { auth } = loadConfig({
    JWT_SECRET: "s".repeat(32),
    JWT_ALGORITHMS: "HS256, HS512",
    JWT_ISSUER: "https://app.example",
    JWT_AUDIENCE: "herald",
    SUBSCRIBE_AUTH: "required",
    AUTH_COOKIE: "herald_token",
    AUTH_QUERY: "true",
  });
  assert.equal(auth.keys?.kind, "secret");
  assert.deepEqual(auth.algorithms, ["HS256", "HS512"]);
  assert.deepEqual(auth.issuers, ["https://app.example"]);
  assert.equal(auth.audience, "herald");
  assert.equal(auth.subscribe, "required");
  assert.equal(auth.cookie, "herald_token");
  assert.equal(auth.queryToken, true);
});

Deno.test("loadConfig() defaults JWT_ALGORITHMS by kind of key, never with none", () => {
  assert.deepEqual(loadConfig({ JWT_SECRET: "s".repeat(32) }).auth.algorithms, [
    "HS256",
    "HS384",
    "HS512",
  ]);
  assert.deepEqual(
    loadConfig({ JWKS_URL: "https://id.example/jwks.json" }).auth.algorithms,
    ["RS256", "PS256", "ES256", "EdDSA"],
  );
});

Deno.test("loadConfig() accepts a one-line PEM with literal \\n and a public JWK", () => {
  const pem = "-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----";
  const keys = loadConfig({ JWT_PUBLIC_KEY: pem }).auth.keys;
  assert.ok(keys?.kind === "publicKey" && keys.format === "spki");
  assert.ok(keys.text.includes("\nAAAA\n"));
  const jwk =
    loadConfig({ JWT_PUBLIC_KEY: '{"kty":"EC","crv":"P-256","x":"a","y":"b"}' })
      .auth.keys;
  assert.ok(jwk?.kind === "publicKey" && jwk.format === "jwk");
});

const REFUSED: ReadonlyArray<readonly [Record<string, string>, RegExp]> = [
  [
    { JWT_SECRET: "short" },
    /^Cannot read JWT_SECRET: it is 5 bytes; at least 32/,
  ],
  [
    { JWT_PUBLIC_KEY: "not a key" },
    /^Cannot read JWT_PUBLIC_KEY: it is neither/,
  ],
  [
    { JWT_PUBLIC_KEY: "{nope" },
    /^Cannot read JWT_PUBLIC_KEY: it is not a JSON Web Key/,
  ],
  [
    { JWT_PUBLIC_KEY: '{"kty":"oct","k":"c2VjcmV0"}' },
    /^Cannot read JWT_PUBLIC_KEY: it holds private or secret key material/,
  ],
  [
    { JWKS_URL: "http://id.example/jwks.json" },
    /^Cannot read JWKS_URL: .* is not an https:\/\/ URL/,
  ],
  [{ JWKS_URL: "not a url" }, /^Cannot read JWKS_URL/],
  [
    { JWT_SECRET: "s".repeat(32), JWKS_URL: "https://id.example/jwks" },
    /^Cannot read JWKS_URL: set only one of/,
  ],
  [
    { JWT_SECRET: "s".repeat(32), JWT_ALGORITHMS: "none" },
    /^Cannot read JWT_ALGORITHMS: "none" is not an algorithm/,
  ],
  [
    { JWT_SECRET: "s".repeat(32), JWT_ALGORITHMS: "HS999" },
    /^Cannot read JWT_ALGORITHMS: "HS999"/,
  ],
  // Key/algorithm confusion is refused at start-up too.
  [
    { JWT_SECRET: "s".repeat(32), JWT_ALGORITHMS: "RS256" },
    /^Cannot read JWT_ALGORITHMS: "RS256" does not go with JWT_SECRET/,
  ],
  [
    { JWKS_URL: "https://id.example/jwks", JWT_ALGORITHMS: "HS256" },
    /^Cannot read JWT_ALGORITHMS: "HS256" does not go with a public key/,
  ],
  [
    { SUBSCRIBE_AUTH: "required" },
    /^Cannot read SUBSCRIBE_AUTH: required needs JWT_SECRET/,
  ],
  [
    { JWT_SECRET: "s".repeat(32), SUBSCRIBE_AUTH: "always" },
    /^Cannot read SUBSCRIBE_AUTH: "always"/,
  ],
  [
    { AUTH_COOKIE: "a b" },
    /^Cannot read AUTH_COOKIE: "a b" is not a cookie name/,
  ],
  [
    { AUTH_QUERY: "yes" },
    /^Cannot read AUTH_QUERY: "yes" is not true or false/,
  ],
];

for (const [env, message] of REFUSED) {
  Deno.test(`loadConfig() refuses ${JSON.stringify(env).slice(0, 80)} naming the variable`, () => {
    assert.throws(() => loadConfig(env), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, message);
      return true;
    });
  });
}

Deno.test("loadConfig() accepts an http JWKS_URL on loopback only", () => {
  for (const host of ["127.0.0.1:8080", "localhost", "[::1]:9"]) {
    assert.equal(
      loadConfig({ JWKS_URL: `http://${host}/jwks` }).auth.keys?.kind,
      "jwks",
    );
  }
});
