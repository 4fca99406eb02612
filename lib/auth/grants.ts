/**
 * @module Grants: what a verified token lets its bearer do, read from the
 * claim names Mercure uses (`mercure.subscribe`, `mercure.publish`,
 * `mercure.payload`) so that existing token issuers work unchanged. Web-only.
 */
import { compileSelectors, type TopicSelector } from "./topic_selector.ts";

/** Raised when a token's claims are not shaped as grants; the route answers 401. */
export class GrantsError extends Error {
  /** Makes the error; `message` says which claim is wrong. */
  constructor(message: string) {
    super(message);
    this.name = "GrantsError";
  }
}

/** What one verified token grants, compiled once for its connection. */
export interface Grants {
  /** Whether the bearer may read the private events of `topic`. */
  readonly maySubscribe: TopicSelector;
  /** Whether the bearer may publish to `topic`. */
  readonly mayPublish: TopicSelector;
  /** The token's `mercure.payload`, opaque to herald (never sent to others). */
  readonly payload: unknown;
  /** When the token expires, in ms since the epoch. */
  readonly expiresAt: number;
}

function readSelectors(
  mercure: Record<string, unknown>,
  name: string,
): string[] {
  const value = mercure[name];
  if (value === undefined) return [];
  if (
    !Array.isArray(value) || !value.every((item) => typeof item === "string")
  ) {
    throw new GrantsError(
      `Cannot use token: "mercure.${name}" must be an array of strings`,
    );
  }
  return value;
}

/**
 * Reads the grants of a verified token's claims. A token without a `mercure`
 * claim grants nothing (but is still a valid identity).
 *
 * @example A subscriber's grants
 * ```ts
 * import { grantsOf } from "./grants.ts";
 * const grants = grantsOf({ exp: 2e9, mercure: { subscribe: ["users/42/*"] } });
 * if (!grants.maySubscribe("users/42/x") || grants.mayPublish("users/42/x")) throw new Error();
 * ```
 *
 * @throws {GrantsError} when `mercure` or its lists are not the right shape
 */
export function grantsOf(claims: Readonly<Record<string, unknown>>): Grants {
  const mercure = claims.mercure ?? {};
  if (
    typeof mercure !== "object" || mercure === null || Array.isArray(mercure)
  ) {
    throw new GrantsError('Cannot use token: "mercure" must be an object');
  }
  const record = mercure as Record<string, unknown>;
  const exp = claims.exp;
  return {
    maySubscribe: compileSelectors(readSelectors(record, "subscribe")),
    mayPublish: compileSelectors(readSelectors(record, "publish")),
    payload: record.payload ?? null,
    expiresAt: typeof exp === "number" ? exp * 1000 : Number.POSITIVE_INFINITY,
  };
}
