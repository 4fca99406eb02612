/**
 * @module Token verification with `npm:jose`: signature, algorithm
 * allow-list, `exp` (required), `nbf`, issuer and audience, against an HMAC
 * secret, a public key (PEM SPKI or JWK) or a JWKS URL (cached, re-fetched
 * on an unknown `kid`). herald never checks a signature itself. Web-only.
 */
import {
  createRemoteJWKSet,
  errors,
  importJWK,
  importSPKI,
  jwtVerify,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from "jose";
import { type AuthConfig, CLOCK_SKEW_SECONDS } from "./auth_config.ts";
import { type Grants, GrantsError, grantsOf } from "./grants.ts";

/** Raised for a token that must be refused; `message` says why, for the 401 body. */
export class TokenError extends Error {
  /** Makes the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TokenError";
  }
}

/** Raised by {@linkcode TokenVerifier.ready} when the configured key cannot be used. */
export class KeyImportError extends Error {
  /** Makes the error; `message` names the variable. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KeyImportError";
  }
}

/** Options for {@linkcode createTokenVerifier}. */
export interface TokenVerifierOptions {
  /**
   * Least time between two fetches of the JWKS when a token names an unknown
   * `kid`, so forged kids cannot make herald hammer the key server.
   *
   * @default {30000}
   */
  jwksCooldownMs?: number;
  /** How long a fetched JWKS is used before it is fetched again. @default {600000} */
  jwksMaxAgeMs?: number;
  /** The wall clock in ms (for `exp` and `nbf`). @default {Date.now} */
  now?: () => number;
}

/** Verifies tokens and reads their grants. */
export interface TokenVerifier {
  /** Resolves once the key is imported; rejects with {@linkcode KeyImportError}. */
  readonly ready: Promise<void>;
  /** The grants of a valid token; rejects with {@linkcode TokenError} otherwise. */
  verify(token: string): Promise<Grants>;
}

/** A compact JWS: three base64url parts. */
const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Imports the public key once per allowed algorithm it fits. */
async function importPublicKey(
  format: "spki" | "jwk",
  text: string,
  algorithms: readonly string[],
  variable: string,
): Promise<Map<string, CryptoKey | Uint8Array>> {
  const keys = new Map<string, CryptoKey | Uint8Array>();
  let lastError: unknown = null;
  for (const algorithm of algorithms) {
    try {
      const key = format === "spki"
        ? await importSPKI(text, algorithm)
        : await importJWK(JSON.parse(text), algorithm);
      keys.set(algorithm, key);
    } catch (error) {
      lastError = error;
    }
  }
  if (keys.size === 0) {
    throw new KeyImportError(
      `Cannot read ${variable}: it is not a public key for ${
        algorithms.join(", ")
      } (${
        lastError instanceof Error ? lastError.message : String(lastError)
      })`,
    );
  }
  return keys;
}

/** Imports the HMAC secret once for each allowed HS algorithm. */
async function importSecret(
  secret: Uint8Array,
  algorithms: readonly string[],
): Promise<Map<string, CryptoKey | Uint8Array>> {
  const keys = new Map<string, CryptoKey | Uint8Array>();
  for (const algorithm of algorithms) {
    const hash = `SHA-${algorithm.slice(2)}`;
    keys.set(
      algorithm,
      await crypto.subtle.importKey(
        "raw",
        new Uint8Array(secret),
        { name: "HMAC", hash },
        false,
        ["verify"],
      ),
    );
  }
  return keys;
}

/** The key function jose calls: the key imported for the token's `alg`, or a refusal. */
function byAlgorithm(
  imported: ReadonlyMap<string, CryptoKey | Uint8Array>,
): JWTVerifyGetKey {
  return (header) => {
    const key = imported.get(header.alg ?? "");
    if (key === undefined) {
      throw new errors.JOSEAlgNotAllowed(
        '"alg" (Algorithm) Header Parameter value not allowed',
      );
    }
    return key;
  };
}

function reasonOf(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "the token has expired";
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "nbf") return "the token is not valid yet (nbf)";
    if (error.claim === "exp") return "the token has no exp claim";
    if (error.claim === "iss") return "the token has the wrong issuer";
    if (error.claim === "aud") return "the token has the wrong audience";
    return `the token's "${error.claim}" claim is not valid`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return "the token's algorithm is not allowed";
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return "the token's signature is not valid";
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return "no key of the JWKS matches the token";
  }
  if (error instanceof errors.JWKSTimeout || error instanceof TypeError) {
    return "the key set could not be fetched";
  }
  return "the token is malformed";
}

/**
 * Makes the verifier for `config` (whose `keys` must be set).
 *
 * @example Verify an HS256 token
 * ```ts
 * import { SignJWT } from "jose";
 * import { readAuthConfig } from "./auth_config.ts";
 * import { createTokenVerifier } from "./token_verifier.ts";
 * const secret = "s".repeat(32);
 * const verifier = createTokenVerifier(readAuthConfig({ JWT_SECRET: secret }));
 * const token = await new SignJWT({ mercure: { subscribe: ["*"] } })
 *   .setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h")
 *   .sign(new TextEncoder().encode(secret));
 * const grants = await verifier.verify(token);
 * if (!grants.maySubscribe("anything")) throw new Error();
 * ```
 */
export function createTokenVerifier(
  config: AuthConfig,
  options: TokenVerifierOptions = {},
): TokenVerifier {
  const keys = config.keys;
  if (keys === null) {
    throw new KeyImportError("Cannot verify tokens: no key is configured");
  }
  const now = options.now ?? Date.now;
  let getKey: Promise<JWTVerifyGetKey>;
  if (keys.kind === "secret") {
    // Imported once per algorithm, not on every verify (jose would).
    getKey = importSecret(keys.secret, config.algorithms).then(byAlgorithm);
  } else if (keys.kind === "publicKey") {
    getKey = importPublicKey(
      keys.format,
      keys.text,
      config.algorithms,
      config.keyVariable,
    ).then(byAlgorithm);
  } else {
    const jwks = createRemoteJWKSet(new URL(keys.url), {
      cooldownDuration: options.jwksCooldownMs ?? 30_000,
      cacheMaxAge: options.jwksMaxAgeMs ?? 600_000,
    });
    getKey = Promise.resolve(jwks);
  }
  const ready = getKey.then(() => {});
  // Start-up awaits `ready`; a request before that waits for the same promise.
  ready.catch(() => {});
  const verifyOptions: JWTVerifyOptions = {
    algorithms: [...config.algorithms],
    requiredClaims: ["exp"],
    clockTolerance: CLOCK_SKEW_SECONDS,
    ...(config.issuers.length === 0 ? {} : { issuer: [...config.issuers] }),
    ...(config.audience === null ? {} : { audience: config.audience }),
  };
  return {
    ready,
    async verify(token: string): Promise<Grants> {
      if (!COMPACT.test(token)) {
        throw new TokenError("Cannot use token: the token is malformed");
      }
      const key = await getKey;
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, key, {
          ...verifyOptions,
          currentDate: new Date(now()),
        }));
      } catch (error) {
        throw new TokenError(`Cannot use token: ${reasonOf(error)}`, {
          cause: error,
        });
      }
      try {
        return grantsOf(payload);
      } catch (error) {
        if (error instanceof GrantsError) throw new TokenError(error.message);
        throw error;
      }
    },
  };
}
