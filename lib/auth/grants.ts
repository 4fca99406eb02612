/**
 * @module Grants: what a verified token lets its bearer do, read from the
 * claim names Mercure uses (`mercure.subscribe`, `mercure.publish`,
 * `mercure.payload`, or draft-08's `authorization_details`) so that existing
 * token issuers work unchanged. Web-only.
 */
import {
  compileSelector,
  compileSelectors,
  type TopicSelector,
} from "./topic_selector.ts";
import type { MercureSelector } from "../mercure/selector.ts";

/** The `type` of a draft-08 Mercure entry of `authorization_details`. */
export const MERCURE_AUTHORIZATION_DETAIL =
  "https://mercure.rocks/authorization-detail";

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
  /** The subscribe selectors as written, for the Mercure endpoint to compile its way. */
  readonly subscribeSelectors: readonly MercureSelector[];
  /** The publish selectors as written, for the Mercure endpoint to compile its way. */
  readonly publishSelectors: readonly MercureSelector[];
}

interface Detail {
  readonly subscribe: MercureSelector[];
  readonly publish: MercureSelector[];
  payload: unknown;
}

/**
 * Reads draft-08 `authorization_details`: entries of type
 * {@linkcode MERCURE_AUTHORIZATION_DETAIL} with `actions` and `topics`
 * (`{match, match_type?}`); other types are ignored. One malformed Mercure
 * entry makes the whole token invalid.
 */
function readDetails(details: unknown): Detail {
  const fail = (why: string): never => {
    throw new GrantsError(`Cannot use token: "authorization_details" ${why}`);
  };
  if (!Array.isArray(details)) fail("must be an array");
  const out: Detail = { subscribe: [], publish: [], payload: null };
  for (const entry of details as unknown[]) {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      fail("must hold objects");
    }
    const record = entry as Record<string, unknown>;
    if (record.type !== MERCURE_AUTHORIZATION_DETAIL) continue;
    const { actions, topics } = record;
    if (
      !Array.isArray(actions) || actions.length === 0 ||
      !actions.every((a) => a === "subscribe" || a === "publish")
    ) {
      fail('entries need "actions" of "subscribe" and "publish"');
    }
    if (!Array.isArray(topics)) fail('entries need a "topics" array');
    const selectors = (topics as unknown[]).map((topic): MercureSelector => {
      const t = topic as Record<string, unknown> | null;
      const type = t?.match_type ?? "exact";
      if (
        typeof t !== "object" || t === null || typeof t.match !== "string" ||
        (type !== "exact" && type !== "urlpattern")
      ) {
        return fail(
          'topics must be {match, match_type?} with match_type "exact" or "urlpattern"',
        );
      }
      return { match: t.match, type };
    });
    for (const action of actions as string[]) {
      out[action as "subscribe" | "publish"].push(...selectors);
    }
    if ("payload" in record) out.payload = record.payload;
  }
  return out;
}

/** herald's own matcher for a Mercure selector (herald topics are names, not URLs). */
function heraldMatcher(selectors: readonly MercureSelector[]): TopicSelector {
  const compiled = selectors.map((s) =>
    s.type === "exact" && s.match !== "*"
      ? (topic: string) => topic === s.match
      : compileSelector(s.match)
  );
  if (compiled.length === 0) return () => false;
  return (topic) => compiled.some((selector) => selector(topic));
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
  const exp = claims.exp;
  const expiresAt = typeof exp === "number"
    ? exp * 1000
    : Number.POSITIVE_INFINITY;
  if (claims.authorization_details !== undefined) {
    const detail = readDetails(claims.authorization_details);
    return {
      maySubscribe: heraldMatcher(detail.subscribe),
      mayPublish: heraldMatcher(detail.publish),
      payload: detail.payload,
      expiresAt,
      subscribeSelectors: detail.subscribe,
      publishSelectors: detail.publish,
    };
  }
  const mercure = claims.mercure ?? {};
  if (
    typeof mercure !== "object" || mercure === null || Array.isArray(mercure)
  ) {
    throw new GrantsError('Cannot use token: "mercure" must be an object');
  }
  const record = mercure as Record<string, unknown>;
  const subscribe = readSelectors(record, "subscribe");
  const publish = readSelectors(record, "publish");
  const legacy = (match: string): MercureSelector => ({
    match,
    type: "template",
  });
  return {
    maySubscribe: compileSelectors(subscribe),
    mayPublish: compileSelectors(publish),
    payload: record.payload ?? null,
    expiresAt,
    subscribeSelectors: subscribe.map(legacy),
    publishSelectors: publish.map(legacy),
  };
}
