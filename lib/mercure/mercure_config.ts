/**
 * @module Mercure's own environment names, so a Mercure deployment's
 * settings carry over: `MERCURE_PUBLISHER_JWT_KEY` / `MERCURE_SUBSCRIBER_JWT_KEY`
 * (→ `JWT_SECRET`, or `JWT_PUBLIC_KEY` for a PEM), `MERCURE_*_JWT_ALG`
 * (→ `JWT_ALGORITHMS`), `MERCURE_TRUSTED_ISSUERS` (→ `JWT_ISSUER`),
 * `MERCURE_RESOURCE_IDENTIFIER` (→ `JWT_AUDIENCE`), plus the endpoint's own
 * `MERCURE_ANONYMOUS`, `MERCURE_DISCOVERY_URL` and `MERCURE_SUBSCRIPTIONS`.
 * Pure. Web-only.
 */

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

/**
 * Returns `env` with Mercure's names translated to herald's. herald verifies
 * publishers and subscribers with one key, so the two keys must be equal; a
 * herald name and its Mercure name may not both be set.
 *
 * @throws {MercureConfigError} naming the variable and why
 */
export function withMercureNames(env: Env): Env {
  const publisher = given(env, "MERCURE_PUBLISHER_JWT_KEY");
  const subscriber = given(env, "MERCURE_SUBSCRIBER_JWT_KEY");
  const out: Record<string, string | undefined> = { ...env };
  const put = (herald: string, mercure: string, value: string) => {
    if (given(env, herald) !== null) {
      throw new MercureConfigError(
        `Cannot read ${mercure}: ${herald} is set too; set only one of them`,
      );
    }
    out[herald] = value;
  };
  if (publisher !== null && subscriber !== null && publisher !== subscriber) {
    throw new MercureConfigError(
      "Cannot read MERCURE_SUBSCRIBER_JWT_KEY: herald verifies publishers and subscribers with one key; it must equal MERCURE_PUBLISHER_JWT_KEY",
    );
  }
  const key = publisher ?? subscriber;
  if (key !== null) {
    const name = publisher !== null
      ? "MERCURE_PUBLISHER_JWT_KEY"
      : "MERCURE_SUBSCRIBER_JWT_KEY";
    const pem = key.replaceAll("\\n", "\n").startsWith("-----BEGIN");
    put(pem ? "JWT_PUBLIC_KEY" : "JWT_SECRET", name, key);
  }
  const algorithms = [
    given(env, "MERCURE_PUBLISHER_JWT_ALG"),
    given(env, "MERCURE_SUBSCRIBER_JWT_ALG"),
  ].filter((a) => a !== null);
  if (algorithms.length > 0) {
    put(
      "JWT_ALGORITHMS",
      "MERCURE_PUBLISHER_JWT_ALG",
      [...new Set(algorithms)].join(","),
    );
  }
  const issuers = given(env, "MERCURE_TRUSTED_ISSUERS");
  if (issuers !== null) {
    const list = issuers.split(",").map((i) => i.trim()).filter((i) => i);
    if (list.length !== 1) {
      throw new MercureConfigError(
        "Cannot read MERCURE_TRUSTED_ISSUERS: herald trusts one issuer; give exactly one",
      );
    }
    put("JWT_ISSUER", "MERCURE_TRUSTED_ISSUERS", list[0]!);
  }
  const audience = given(env, "MERCURE_RESOURCE_IDENTIFIER");
  if (audience !== null) {
    put("JWT_AUDIENCE", "MERCURE_RESOURCE_IDENTIFIER", audience);
  }
  return out;
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
