/**
 * Test helper: real signed tokens (npm:jose), good and bad, and a JWKS
 * server on loopback. Every token carries `exp` unless asked otherwise.
 */
import {
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  SignJWT,
} from "jose";

/** A secret long enough for HS256 (the config refuses shorter ones). */
export const SECRET = "test-secret-of-at-least-32-bytes!!";

/** Grants in Mercure's claim. */
export interface TestGrants {
  subscribe?: string[];
  publish?: string[];
  payload?: unknown;
}

/** Options for {@linkcode mint}. */
export interface MintOptions {
  /** Seconds from now until `exp`; null leaves `exp` out. @default {3600} */
  ttlSeconds?: number | null;
  /** `exp` as seconds since the epoch (wins over ttlSeconds). */
  exp?: number;
  /** Seconds from now until `nbf`. */
  nbfSeconds?: number;
  issuer?: string;
  audience?: string;
  /** Extra claims. */
  claims?: JWTPayload;
  /** The header's alg. @default {"HS256"} */
  alg?: string;
  kid?: string;
  /** The header's typ (draft-08 Mercure tokens are `at+jwt`); absent by default. */
  typ?: string;
}

/** Signs a token with `key` (the HMAC secret by default). */
export async function mint(
  grants: TestGrants,
  options: MintOptions = {},
  key: CryptoKey | Uint8Array = new TextEncoder().encode(SECRET),
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ ...options.claims, mercure: grants })
    .setProtectedHeader({
      alg: options.alg ?? "HS256",
      ...(options.kid === undefined ? {} : { kid: options.kid }),
      ...(options.typ === undefined ? {} : { typ: options.typ }),
    })
    .setIssuedAt(now);
  const ttl = options.ttlSeconds === undefined ? 3600 : options.ttlSeconds;
  if (options.exp !== undefined) jwt.setExpirationTime(options.exp);
  else if (ttl !== null) jwt.setExpirationTime(now + ttl);
  if (options.nbfSeconds !== undefined) {
    jwt.setNotBefore(now + options.nbfSeconds);
  }
  if (options.issuer !== undefined) jwt.setIssuer(options.issuer);
  if (options.audience !== undefined) jwt.setAudience(options.audience);
  return await jwt.sign(key);
}

function base64url(text: string): string {
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

/** An unsigned token (`alg: none`) with these grants and a valid exp. */
export function unsignedToken(grants: TestGrants): string {
  const header = base64url(JSON.stringify({ alg: "none", typ: "JWT" }));
  const payload = base64url(JSON.stringify({
    exp: Math.floor(Date.now() / 1000) + 3600,
    mercure: grants,
  }));
  return `${header}.${payload}.`;
}

/** The token with its signature's first character changed. */
export function forged(token: string): string {
  const [header, payload, signature] = token.split(".") as [
    string,
    string,
    string,
  ];
  const first = signature[0] === "A" ? "B" : "A";
  return `${header}.${payload}.${first}${signature.slice(1)}`;
}

/** The token with its payload replaced (signature kept): a grant escalation. */
export function tampered(token: string, grants: TestGrants): string {
  const [header, , signature] = token.split(".") as [string, string, string];
  const payload = base64url(JSON.stringify({
    exp: Math.floor(Date.now() / 1000) + 3600,
    mercure: grants,
  }));
  return `${header}.${payload}.${signature}`;
}

/** An asymmetric key pair, with its public key as PEM SPKI and JWK. */
export interface TestKeyPair {
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly pem: string;
  readonly jwk: JWK;
  readonly alg: string;
}

/** Makes a key pair for `alg` (RS256, ES256, EdDSA, ...). */
export async function keyPair(alg: string): Promise<TestKeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, {
    extractable: true,
  });
  return {
    privateKey,
    publicKey,
    pem: await exportSPKI(publicKey),
    jwk: await exportJWK(publicKey),
    alg,
  };
}

/** A JWKS served on 127.0.0.1; `keys` may be replaced (a rotation). */
export interface JwksServer extends AsyncDisposable {
  readonly url: string;
  keys: JWK[];
  /** How many times the key set was fetched. */
  readonly fetches: number;
}

/** Serves `{keys}` as a JWKS on a free loopback port. */
export function serveJwks(keys: JWK[]): Promise<JwksServer> {
  const controller = new AbortController();
  let fetches = 0;
  const state = { keys };
  return new Promise((resolve) => {
    const server = Deno.serve({
      port: 0,
      hostname: "127.0.0.1",
      signal: controller.signal,
      onListen({ port }) {
        resolve({
          url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
          get keys() {
            return state.keys;
          },
          set keys(value) {
            state.keys = value;
          },
          get fetches() {
            return fetches;
          },
          async [Symbol.asyncDispose]() {
            controller.abort();
            await server.finished;
          },
        });
      },
    }, () => {
      fetches++;
      return Response.json({ keys: state.keys });
    });
  });
}
