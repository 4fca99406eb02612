/**
 * @module Token configuration: reads `JWT_SECRET`, `JWT_PUBLIC_KEY`,
 * `JWKS_URL`, `JWT_ALGORITHMS`, `JWT_ISSUER`, `JWT_AUDIENCE`,
 * `SUBSCRIBE_AUTH`, `AUTH_COOKIE` and `AUTH_QUERY` into an
 * {@linkcode AuthConfig}. Pure and synchronous: the key itself is imported
 * by token_verifier.ts, whose failure start-up also reports. Web-only.
 */

/** Algorithms a secret may verify. */
export const HMAC_ALGORITHMS: readonly string[] = ["HS256", "HS384", "HS512"];

/** Algorithms a public key or a JWKS may verify. */
export const PUBLIC_KEY_ALGORITHMS: readonly string[] = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
];

/** The defaults of `JWT_ALGORITHMS`, by kind of key. */
const DEFAULT_ALGORITHMS = {
  secret: ["HS256", "HS384", "HS512"],
  publicKey: ["RS256", "PS256", "ES256", "EdDSA"],
  jwks: ["RS256", "PS256", "ES256", "EdDSA"],
} as const;

/** A secret shorter than this is refused (RFC 7518 §3.2: at least the hash size of HS256). */
export const MIN_SECRET_BYTES = 32;

/** Clock skew allowed on `exp` and `nbf`, in seconds. */
export const CLOCK_SKEW_SECONDS = 5;

/** Where verification keys come from. */
export type KeySource =
  | { readonly kind: "secret"; readonly secret: Uint8Array }
  | {
    readonly kind: "publicKey";
    readonly format: "spki" | "jwk";
    readonly text: string;
  }
  | { readonly kind: "jwks"; readonly url: string };

/** The token settings of a {@linkcode Config}. */
export interface AuthConfig {
  /** The keys tokens are verified with; null: tokens are off. */
  readonly keys: KeySource | null;
  /** Accepted `alg` values (`JWT_ALGORITHMS`); never `none`. */
  readonly algorithms: readonly string[];
  /** Trusted `iss` values (`JWT_ISSUER`, comma separated); empty: not checked. */
  readonly issuers: readonly string[];
  /** Required `aud` (`JWT_AUDIENCE`); null: not checked. */
  readonly audience: string | null;
  /**
   * `SUBSCRIBE_AUTH`: "optional" (anonymous streams see public events only)
   * or "required" (no token, no stream; a topic not granted is refused).
   */
  readonly subscribe: "optional" | "required";
  /** The cookie a browser's token comes in (`AUTH_COOKIE`). */
  readonly cookie: string;
  /** Whether `?authorization=` may carry the token (`AUTH_QUERY`); it leaks into logs. */
  readonly queryToken: boolean;
  /** The variable the key was read from, for messages ("" without a key). */
  readonly keyVariable: string;
}

/** Raised for a token setting herald cannot use; names the variable. */
export class AuthConfigError extends Error {
  /** Makes the error; `message` says which variable and why. */
  constructor(message: string) {
    super(message);
    this.name = "AuthConfigError";
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function set(env: Env, name: string): string | null {
  const raw = env[name];
  return raw === undefined || raw === "" ? null : raw;
}

const LOOPBACK = new Set(["127.0.0.1", "[::1]", "localhost"]);

function readKeys(env: Env): KeySource | null {
  const secret = set(env, "JWT_SECRET");
  const publicKey = set(env, "JWT_PUBLIC_KEY");
  const jwksUrl = set(env, "JWKS_URL");
  const given = [
    secret === null ? null : "JWT_SECRET",
    publicKey === null ? null : "JWT_PUBLIC_KEY",
    jwksUrl === null ? null : "JWKS_URL",
  ].filter((name) => name !== null);
  if (given.length > 1) {
    throw new AuthConfigError(
      `Cannot read ${
        given[1]
      }: set only one of JWT_SECRET, JWT_PUBLIC_KEY and JWKS_URL (${
        given.join(" and ")
      } are set)`,
    );
  }
  if (secret !== null) {
    const bytes = new TextEncoder().encode(secret);
    if (bytes.byteLength < MIN_SECRET_BYTES) {
      throw new AuthConfigError(
        `Cannot read JWT_SECRET: it is ${bytes.byteLength} bytes; at least ${MIN_SECRET_BYTES} are needed`,
      );
    }
    return { kind: "secret", secret: bytes };
  }
  if (publicKey !== null) {
    // Environment files often hold a PEM on one line with literal \n.
    const text = publicKey.replaceAll("\\n", "\n").trim();
    if (text.startsWith("-----BEGIN PUBLIC KEY-----")) {
      return { kind: "publicKey", format: "spki", text };
    }
    if (text.startsWith("{")) {
      let jwk: unknown;
      try {
        jwk = JSON.parse(text);
      } catch {
        jwk = null;
      }
      const record = jwk as Record<string, unknown> | null;
      if (typeof record?.kty !== "string") {
        throw new AuthConfigError(
          "Cannot read JWT_PUBLIC_KEY: it is not a JSON Web Key (JSON with a kty)",
        );
      }
      if ("d" in record || "k" in record) {
        throw new AuthConfigError(
          "Cannot read JWT_PUBLIC_KEY: it holds private or secret key material; give the public key only",
        );
      }
      return { kind: "publicKey", format: "jwk", text };
    }
    throw new AuthConfigError(
      'Cannot read JWT_PUBLIC_KEY: it is neither a PEM "BEGIN PUBLIC KEY" block nor a JSON Web Key',
    );
  }
  if (jwksUrl !== null) {
    let url: URL | null = null;
    try {
      url = new URL(jwksUrl);
    } catch {
      url = null;
    }
    const secure = url !== null && (url.protocol === "https:" ||
      (url.protocol === "http:" && LOOPBACK.has(url.hostname)));
    if (!secure) {
      throw new AuthConfigError(
        `Cannot read JWKS_URL: "${jwksUrl}" is not an https:// URL (http:// is accepted on loopback only)`,
      );
    }
    return { kind: "jwks", url: jwksUrl };
  }
  return null;
}

function readAlgorithms(env: Env, keys: KeySource | null): readonly string[] {
  const raw = set(env, "JWT_ALGORITHMS");
  if (keys === null) return [];
  const allowed = keys.kind === "secret"
    ? HMAC_ALGORITHMS
    : PUBLIC_KEY_ALGORITHMS;
  if (raw === null) return DEFAULT_ALGORITHMS[keys.kind];
  const algorithms = raw.split(",").map((part) => part.trim());
  for (const algorithm of algorithms) {
    if (allowed.includes(algorithm)) continue;
    const known = HMAC_ALGORITHMS.includes(algorithm) ||
      PUBLIC_KEY_ALGORITHMS.includes(algorithm);
    // A secret never verifies RS*, a public key never HS*: that is the
    // key/algorithm confusion attack, refused here and by the key import.
    throw new AuthConfigError(
      known
        ? `Cannot read JWT_ALGORITHMS: "${algorithm}" does not go with ${
          keys.kind === "secret" ? "JWT_SECRET" : "a public key"
        }; use ${allowed.join(", ")}`
        : `Cannot read JWT_ALGORITHMS: "${algorithm}" is not an algorithm herald accepts (${
          [...HMAC_ALGORITHMS, ...PUBLIC_KEY_ALGORITHMS].join(", ")
        })`,
    );
  }
  return Object.freeze([...new Set(algorithms)]);
}

function readCookie(env: Env): string {
  const raw = env.AUTH_COOKIE;
  if (raw === undefined) return "mercureAuthorization";
  // RFC 6265 cookie-name: a token.
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/.test(raw)) {
    throw new AuthConfigError(
      `Cannot read AUTH_COOKIE: "${raw}" is not a cookie name`,
    );
  }
  return raw;
}

function readFlag(env: Env, name: string): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "" || raw === "false" || raw === "0") {
    return false;
  }
  if (raw === "true" || raw === "1") return true;
  throw new AuthConfigError(
    `Cannot read ${name}: "${raw}" is not true or false`,
  );
}

function readText(env: Env, name: string): string | null {
  const raw = set(env, name);
  return raw === null ? null : raw.trim();
}

/** A comma-separated list, each part trimmed, empty parts left out. */
function readList(env: Env, name: string): readonly string[] {
  const raw = readText(env, name) ?? "";
  return Object.freeze(
    [...new Set(raw.split(",").map((part) => part.trim()))].filter((p) => p),
  );
}

function keyVariable(keys: KeySource | null): string {
  if (keys === null) return "";
  if (keys.kind === "secret") return "JWT_SECRET";
  return keys.kind === "jwks" ? "JWKS_URL" : "JWT_PUBLIC_KEY";
}

/**
 * Reads the token settings. Without a key tokens are off, and a setting that
 * needs one (`SUBSCRIBE_AUTH=required`) is refused.
 *
 * @example A secret
 * ```ts
 * import { readAuthConfig } from "./auth_config.ts";
 * const auth = readAuthConfig({ JWT_SECRET: "x".repeat(32) });
 * if (auth.keys?.kind !== "secret" || auth.subscribe !== "optional") throw new Error();
 * ```
 *
 * @throws {AuthConfigError} naming the variable and why
 */
export function readAuthConfig(env: Env): AuthConfig {
  const keys = readKeys(env);
  const mode = env.SUBSCRIBE_AUTH ?? "optional";
  if (mode !== "optional" && mode !== "required") {
    throw new AuthConfigError(
      `Cannot read SUBSCRIBE_AUTH: "${mode}" is not optional or required`,
    );
  }
  if (mode === "required" && keys === null) {
    throw new AuthConfigError(
      "Cannot read SUBSCRIBE_AUTH: required needs JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL",
    );
  }
  return Object.freeze({
    keys,
    algorithms: readAlgorithms(env, keys),
    issuers: readList(env, "JWT_ISSUER"),
    audience: readText(env, "JWT_AUDIENCE"),
    subscribe: mode,
    cookie: readCookie(env),
    queryToken: readFlag(env, "AUTH_QUERY"),
    keyVariable: keyVariable(keys),
  });
}
