/**
 * @module Mercure's own environment names, so a Mercure deployment's
 * settings carry over: `MERCURE_PUBLISHER_JWT_KEY` / `MERCURE_SUBSCRIBER_JWT_KEY`
 * (→ `JWT_SECRET`, or `JWT_PUBLIC_KEY` for a PEM; two different keys verify
 * publishers and subscribers apart), `MERCURE_*_JWT_ALG`
 * (→ `JWT_ALGORITHMS`), `MERCURE_TRUSTED_ISSUERS` (→ `JWT_ISSUER`),
 * `MERCURE_RESOURCE_IDENTIFIER` (→ `JWT_AUDIENCE`), plus the endpoint's own
 * `MERCURE_ANONYMOUS`, `MERCURE_DISCOVERY_URL` and `MERCURE_SUBSCRIPTIONS`.
 * Pure. Web-only.
 */

import {
  type AuthConfig,
  AuthConfigError,
  readAuthConfig,
} from "../auth/auth_config.ts";

type Env = Readonly<Record<string, string | undefined>>;

/** The Mercure endpoint's settings of a `Config`. */
export interface MercureConfig {
  /** Whether subscribers without a token may subscribe (`MERCURE_ANONYMOUS=1`; always when tokens are off). */
  readonly anonymous: boolean;
  /** The hub URL herald advertises in `Link: <…>; rel="mercure"` on its responses (`MERCURE_DISCOVERY_URL`); null: none. */
  readonly discoveryUrl: string | null;
  /** Whether streams announce themselves and the subscriptions API answers (`MERCURE_SUBSCRIPTIONS=1`). */
  readonly subscriptions: boolean;
}

/** Raised for a Mercure setting herald cannot use; names the variable. */
export class MercureConfigError extends Error {
  /** Makes the error. */
  constructor(message: string) {
    super(message);
    this.name = "MercureConfigError";
  }
}

function given(env: Env, name: string): string | null {
  const raw = env[name];
  return raw === undefined || raw.trim() === "" ? null : raw.trim();
}

const PUBLISHER_KEY = "MERCURE_PUBLISHER_JWT_KEY";
const SUBSCRIBER_KEY = "MERCURE_SUBSCRIBER_JWT_KEY";
const PUBLISHER_ALG = "MERCURE_PUBLISHER_JWT_ALG";
const SUBSCRIBER_ALG = "MERCURE_SUBSCRIBER_JWT_ALG";
const HERALD_KEYS = ["JWT_SECRET", "JWT_PUBLIC_KEY", "JWKS_URL"] as const;

/** The token settings, from herald's names and Mercure's. */
export interface TokenSettings {
  /** For subscribers, and for publishers too unless `publisherAuth` is set. */
  readonly auth: AuthConfig;
  /**
   * For publishers (`POST /.well-known/mercure` and `POST /message`), when
   * `MERCURE_PUBLISHER_JWT_KEY` and `MERCURE_SUBSCRIBER_JWT_KEY` differ;
   * null: `auth` verifies them.
   */
  readonly publisherAuth: AuthConfig | null;
}

/** The herald variable a Mercure key goes to: a PEM is a public key. */
function keyName(key: string): "JWT_PUBLIC_KEY" | "JWT_SECRET" {
  return key.replaceAll("\\n", "\n").startsWith("-----BEGIN")
    ? "JWT_PUBLIC_KEY"
    : "JWT_SECRET";
}

/**
 * Reads herald's token settings from `env`, `mercure` telling which herald
 * names were translated from which Mercure names, so that an error names the
 * variable the operator set.
 */
function readNamed(
  env: Env,
  mercure: Readonly<Record<string, string>>,
): AuthConfig {
  let auth: AuthConfig;
  try {
    auth = readAuthConfig(env);
  } catch (error) {
    if (!(error instanceof AuthConfigError)) throw error;
    let message = error.message;
    for (const [herald, name] of Object.entries(mercure)) {
      message = message
        .replace(new RegExp(`^Cannot read ${herald}:`), `Cannot read ${name}:`)
        .replace(`does not go with ${herald}`, `does not go with ${name}`);
    }
    throw new MercureConfigError(message);
  }
  const variable = mercure[auth.keyVariable];
  return variable === undefined
    ? auth
    : Object.freeze({ ...auth, keyVariable: variable });
}

/**
 * Reads the token settings from herald's names and Mercure's:
 * `MERCURE_PUBLISHER_JWT_KEY` / `MERCURE_SUBSCRIBER_JWT_KEY` (→ `JWT_SECRET`,
 * or `JWT_PUBLIC_KEY` for a PEM), `MERCURE_*_JWT_ALG` (→ `JWT_ALGORITHMS`),
 * `MERCURE_TRUSTED_ISSUERS` (→ `JWT_ISSUER`, several comma separated),
 * `MERCURE_RESOURCE_IDENTIFIER` (→ `JWT_AUDIENCE`). One key given, or two
 * equal ones, verifies everyone (with both algorithms); two different keys
 * verify publishers and subscribers apart, each with its own algorithm. A
 * herald name and its Mercure name may not both be set.
 *
 * @throws {MercureConfigError} naming the variable and why
 */
export function readTokenSettings(env: Env): TokenSettings {
  const publisher = given(env, PUBLISHER_KEY);
  const subscriber = given(env, SUBSCRIBER_KEY);
  const shared: Record<string, string | undefined> = { ...env };
  const put = (
    out: Record<string, string | undefined>,
    herald: string,
    mercure: string,
    value: string,
  ) => {
    const other = herald === "JWT_SECRET" || herald === "JWT_PUBLIC_KEY"
      ? HERALD_KEYS.find((name) => given(env, name) !== null)
      : given(env, herald) === null
      ? undefined
      : herald;
    if (other !== undefined) {
      throw new MercureConfigError(
        `Cannot read ${mercure}: ${other} is set too; set only one of them`,
      );
    }
    out[herald] = value;
  };
  const issuers = given(env, "MERCURE_TRUSTED_ISSUERS");
  if (issuers !== null) {
    if (issuers.split(",").every((part) => part.trim() === "")) {
      throw new MercureConfigError(
        "Cannot read MERCURE_TRUSTED_ISSUERS: it names no issuer",
      );
    }
    put(shared, "JWT_ISSUER", "MERCURE_TRUSTED_ISSUERS", issuers);
  }
  const audience = given(env, "MERCURE_RESOURCE_IDENTIFIER");
  if (audience !== null) {
    put(shared, "JWT_AUDIENCE", "MERCURE_RESOURCE_IDENTIFIER", audience);
  }
  const publisherAlg = given(env, PUBLISHER_ALG);
  const subscriberAlg = given(env, SUBSCRIBER_ALG);
  if (publisher !== null && subscriber !== null && publisher !== subscriber) {
    const subscriberEnv = { ...shared };
    put(subscriberEnv, keyName(subscriber), SUBSCRIBER_KEY, subscriber);
    if (subscriberAlg !== null) {
      put(subscriberEnv, "JWT_ALGORITHMS", SUBSCRIBER_ALG, subscriberAlg);
    }
    const publisherEnv: Record<string, string | undefined> = {
      JWT_ISSUER: shared.JWT_ISSUER,
      JWT_AUDIENCE: shared.JWT_AUDIENCE,
      JWT_ALGORITHMS: env.JWT_ALGORITHMS,
    };
    put(publisherEnv, keyName(publisher), PUBLISHER_KEY, publisher);
    if (publisherAlg !== null) {
      put(publisherEnv, "JWT_ALGORITHMS", PUBLISHER_ALG, publisherAlg);
    }
    return {
      auth: readNamed(subscriberEnv, {
        [keyName(subscriber)]: SUBSCRIBER_KEY,
        ...(subscriberAlg === null ? {} : { JWT_ALGORITHMS: SUBSCRIBER_ALG }),
      }),
      publisherAuth: readNamed(publisherEnv, {
        [keyName(publisher)]: PUBLISHER_KEY,
        ...(publisherAlg === null ? {} : { JWT_ALGORITHMS: PUBLISHER_ALG }),
      }),
    };
  }
  const names: Record<string, string> = {};
  const key = publisher ?? subscriber;
  if (key !== null) {
    const name = publisher !== null ? PUBLISHER_KEY : SUBSCRIBER_KEY;
    put(shared, keyName(key), name, key);
    names[keyName(key)] = name;
  }
  const algorithms = [publisherAlg, subscriberAlg].filter((a) => a !== null);
  if (algorithms.length > 0) {
    const name = publisherAlg !== null ? PUBLISHER_ALG : SUBSCRIBER_ALG;
    put(shared, "JWT_ALGORITHMS", name, [...new Set(algorithms)].join(","));
    names.JWT_ALGORITHMS = name;
  }
  return { auth: readNamed(shared, names), publisherAuth: null };
}

function readFlag(env: Env, name: string): boolean {
  const raw = env[name] ?? "";
  if (!["", "0", "1", "true", "false"].includes(raw)) {
    throw new MercureConfigError(`Cannot read ${name}: "${raw}" is not 1 or 0`);
  }
  return raw === "1" || raw === "true";
}

/**
 * Reads the Mercure endpoint's settings.
 *
 * @throws {MercureConfigError} naming the variable and why
 */
export function readMercureConfig(env: Env): MercureConfig {
  const anonymous = readFlag(env, "MERCURE_ANONYMOUS");
  const subscriptions = readFlag(env, "MERCURE_SUBSCRIPTIONS");
  const discovery = given(env, "MERCURE_DISCOVERY_URL");
  if (discovery !== null) {
    let ok = false;
    try {
      ok = /^https?:$/.test(new URL(discovery).protocol);
    } catch {
      ok = false;
    }
    if (!ok || /[<>\s]/.test(discovery)) {
      throw new MercureConfigError(
        `Cannot read MERCURE_DISCOVERY_URL: "${discovery}" is not an http(s) URL`,
      );
    }
  }
  return Object.freeze({
    anonymous,
    discoveryUrl: discovery,
    subscriptions,
  });
}
