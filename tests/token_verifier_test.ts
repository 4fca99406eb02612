import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { readAuthConfig } from "../lib/auth/auth_config.ts";
import {
  createTokenVerifier,
  KeyImportError,
  TokenError,
} from "../lib/auth/token_verifier.ts";
import {
  forged,
  keyPair,
  mint,
  SECRET,
  serveJwks,
  tampered,
  unsignedToken,
} from "./_tokens.ts";

const ALL = { subscribe: ["*"], publish: ["*"] };

function secretVerifier(env: Record<string, string> = {}) {
  return createTokenVerifier(readAuthConfig({ JWT_SECRET: SECRET, ...env }));
}

async function refused(
  promise: Promise<unknown>,
  reason: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof TokenError, String(error));
    assert.match(error.message, reason);
    return true;
  });
}

Deno.test("createTokenVerifier() accepts an HS256 token and reads its Mercure grants", async () => {
  const verifier = secretVerifier();
  const grants = await verifier.verify(
    await mint({
      subscribe: ["users/42/*"],
      publish: ["news"],
      payload: { user: 42 },
    }),
  );
  assert.ok(grants.maySubscribe("users/42/a"));
  assert.ok(!grants.maySubscribe("users/43/a"));
  assert.ok(grants.mayPublish("news") && !grants.mayPublish("users/42/a"));
  assert.deepEqual(grants.payload, { user: 42 });
  assert.ok(grants.expiresAt > Date.now());
});

Deno.test("createTokenVerifier() refuses a forged signature and a tampered payload", async () => {
  const verifier = secretVerifier();
  const token = await mint({ subscribe: ["users/42/*"] });
  await refused(verifier.verify(forged(token)), /signature is not valid/);
  await refused(
    verifier.verify(tampered(token, ALL)),
    /signature is not valid/,
  );
  const other = await mint(ALL, {}, new TextEncoder().encode("x".repeat(40)));
  await refused(verifier.verify(other), /signature is not valid/);
});

Deno.test("createTokenVerifier() refuses alg none, with a secret and with a public key", async () => {
  await refused(
    secretVerifier().verify(unsignedToken(ALL)),
    /malformed|algorithm/,
  );
  const pair = await keyPair("RS256");
  const verifier = createTokenVerifier(
    readAuthConfig({ JWT_PUBLIC_KEY: pair.pem }),
  );
  await refused(verifier.verify(unsignedToken(ALL)), /malformed|algorithm/);
});

Deno.test("createTokenVerifier() refuses algorithm confusion: HS256 signed with the RSA public key", async () => {
  const pair = await keyPair("RS256");
  const verifier = createTokenVerifier(
    readAuthConfig({ JWT_PUBLIC_KEY: pair.pem }),
  );
  await verifier.ready;
  for (const secret of [pair.pem, JSON.stringify(pair.jwk)]) {
    const token = await mint(
      ALL,
      { alg: "HS256" },
      new TextEncoder().encode(secret),
    );
    await refused(verifier.verify(token), /algorithm is not allowed/);
  }
  // And the genuine RS256 token passes.
  const good = await mint(ALL, { alg: "RS256" }, pair.privateKey);
  assert.ok((await verifier.verify(good)).maySubscribe("x"));
});

Deno.test("createTokenVerifier() refuses an algorithm outside JWT_ALGORITHMS", async () => {
  const verifier = secretVerifier({ JWT_ALGORITHMS: "HS512" });
  await refused(verifier.verify(await mint(ALL)), /algorithm is not allowed/);
  assert.ok(await verifier.verify(await mint(ALL, { alg: "HS512" })));
});

Deno.test("createTokenVerifier() requires exp, refuses an expired token, honours nbf, with 5 s of skew", async () => {
  const verifier = secretVerifier();
  await refused(
    verifier.verify(await mint(ALL, { ttlSeconds: null })),
    /no exp/,
  );
  await refused(
    verifier.verify(await mint(ALL, { ttlSeconds: -60 })),
    /expired/,
  );
  await refused(
    verifier.verify(await mint(ALL, { nbfSeconds: 60 })),
    /not valid yet/,
  );
  // Within the documented skew both still pass.
  assert.ok(await verifier.verify(await mint(ALL, { ttlSeconds: -2 })));
  assert.ok(await verifier.verify(await mint(ALL, { nbfSeconds: 2 })));
});

Deno.test("createTokenVerifier() checks JWT_ISSUER and JWT_AUDIENCE when set", async () => {
  const verifier = secretVerifier({
    JWT_ISSUER: "https://app.example",
    JWT_AUDIENCE: "herald",
  });
  const good = { issuer: "https://app.example", audience: "herald" };
  assert.ok(await verifier.verify(await mint(ALL, good)));
  await refused(
    verifier.verify(
      await mint(ALL, { ...good, issuer: "https://evil.example" }),
    ),
    /wrong issuer/,
  );
  await refused(
    verifier.verify(await mint(ALL, { ...good, audience: "other" })),
    /wrong audience/,
  );
  await refused(
    verifier.verify(await mint(ALL, { audience: "herald" })),
    /issuer/,
  );
});

Deno.test("createTokenVerifier() refuses malformed tokens and badly shaped grants", async () => {
  const verifier = secretVerifier();
  for (const token of ["", "abc", "a.b", "a.b.c.d", "a b.c.d", "eyJ.eyJ.sig"]) {
    await refused(verifier.verify(token), /malformed/);
  }
  await refused(
    verifier.verify(
      await mint({ subscribe: "users/42/*" as unknown as string[] }),
    ),
    /mercure.subscribe" must be an array of strings/,
  );
  const notObject = await new SignJWT({ mercure: ["*"] })
    .setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h")
    .sign(new TextEncoder().encode(SECRET));
  await refused(verifier.verify(notObject), /"mercure" must be an object/);
});

Deno.test("createTokenVerifier() verifies with a JWK public key (ES256) and EdDSA", async () => {
  for (const alg of ["ES256", "EdDSA"]) {
    const pair = await keyPair(alg);
    const verifier = createTokenVerifier(
      readAuthConfig({ JWT_PUBLIC_KEY: JSON.stringify(pair.jwk) }),
    );
    const grants = await verifier.verify(
      await mint({ subscribe: ["a"] }, { alg }, pair.privateKey),
    );
    assert.ok(grants.maySubscribe("a"), alg);
    const stranger = await keyPair(alg);
    await refused(
      verifier.verify(await mint(ALL, { alg }, stranger.privateKey)),
      /signature is not valid/,
    );
  }
});

Deno.test("createTokenVerifier().ready rejects a public key it cannot import", async () => {
  const verifier = createTokenVerifier(readAuthConfig({
    JWT_PUBLIC_KEY:
      "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----",
  }));
  await assert.rejects(verifier.ready, (error: unknown) => {
    assert.ok(error instanceof KeyImportError);
    assert.match(error.message, /^Cannot read JWT_PUBLIC_KEY: /);
    return true;
  });
});

Deno.test("createTokenVerifier() fetches a JWKS from loopback once and re-fetches on an unknown kid", async () => {
  const first = await keyPair("RS256");
  const second = await keyPair("ES256");
  await using jwks = await serveJwks([{
    ...first.jwk,
    kid: "one",
    alg: "RS256",
  }]);
  const verifier = createTokenVerifier(
    readAuthConfig({ JWKS_URL: jwks.url }),
    { jwksCooldownMs: 0 },
  );
  for (let i = 0; i < 3; i++) {
    const token = await mint(
      ALL,
      { alg: "RS256", kid: "one" },
      first.privateKey,
    );
    assert.ok(await verifier.verify(token));
  }
  assert.equal(jwks.fetches, 1, "the key set is cached");
  // Rotation: a token with a new kid makes herald fetch the set again.
  jwks.keys = [
    { ...first.jwk, kid: "one", alg: "RS256" },
    { ...second.jwk, kid: "two", alg: "ES256" },
  ];
  const rotated = await mint(
    { subscribe: ["b"] },
    { alg: "ES256", kid: "two" },
    second.privateKey,
  );
  assert.ok((await verifier.verify(rotated)).maySubscribe("b"));
  assert.equal(jwks.fetches, 2);
  // A kid nobody has is refused, and a stranger's key under a known kid too.
  const stranger = await keyPair("RS256");
  await refused(
    verifier.verify(
      await mint(ALL, { alg: "RS256", kid: "three" }, stranger.privateKey),
    ),
    /no key of the JWKS/,
  );
  await refused(
    verifier.verify(
      await mint(ALL, { alg: "RS256", kid: "one" }, stranger.privateKey),
    ),
    /signature is not valid/,
  );
});
