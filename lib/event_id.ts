/**
 * @module Event ids: their text form and their order. Web-only.
 *
 * An id is `<ms>-<seq>` or `<ms>-<seq>-<instance>`: milliseconds since the epoch,
 * a counter within that millisecond, and (for ids made by a
 * {@linkcode HybridClock}) the short name of the instance that made it, which
 * breaks ties. Redis stream ids (`<ms>-<seq>`) are ids of the same form, so an
 * engine that orders events itself can supply them unchanged.
 *
 * A Deno KV versionstamp (20 hex digits, the commit's version: the kv
 * engine's ids) is an id too. It carries no time, so it parses with `ms` and
 * `seq` 0 and its digits in `stamp`: versionstamps order among themselves by
 * their digits, all sort before every clock id, and none is ever taken for
 * an id from the future.
 */

/** A parsed event id: compare with {@linkcode compareIds}. */
export interface EventId {
  /** Milliseconds since the epoch. */
  readonly ms: number;
  /** Counter within the millisecond. */
  readonly seq: number;
  /** The instance that made the id ("" when the id has no instance part). */
  readonly instance: string;
  /** A Deno KV versionstamp's 20 hex digits; absent for clock ids. */
  readonly stamp?: string;
}

const ID_PATTERN = /^(\d{1,16})-(\d{1,16})(?:-([a-z0-9]{1,16}))?$/;
const STAMP_PATTERN = /^[0-9a-f]{20}$/;

/** Reads an id's text, or returns null when it is not an id of this hub. */
export function parseId(text: string): EventId | null {
  if (STAMP_PATTERN.test(text)) {
    return { ms: 0, seq: 0, instance: "", stamp: text };
  }
  const match = ID_PATTERN.exec(text);
  if (match === null) return null;
  const ms = Number(match[1]);
  const seq = Number(match[2]);
  if (!Number.isSafeInteger(ms) || !Number.isSafeInteger(seq)) return null;
  return { ms, seq, instance: match[3] ?? "" };
}

/** Writes an id as text; the inverse of {@linkcode parseId}. */
export function formatId(id: EventId): string {
  if (id.stamp !== undefined) return id.stamp;
  return id.instance === ""
    ? `${id.ms}-${id.seq}`
    : `${id.ms}-${id.seq}-${id.instance}`;
}

/** Orders two ids: negative when `a` comes first, 0 when equal, positive after. */
export function compareIds(a: EventId, b: EventId): number {
  if (a.ms !== b.ms) return a.ms - b.ms;
  if (a.seq !== b.seq) return a.seq - b.seq;
  const left = a.stamp ?? "";
  const right = b.stamp ?? "";
  if (left !== right) return left < right ? -1 : 1;
  return a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0;
}

/** The id that sorts before every other. */
export const ZERO_ID: EventId = Object.freeze({ ms: 0, seq: 0, instance: "" });

/** Returns the later of two ids. */
export function maxId(a: EventId, b: EventId): EventId {
  return compareIds(a, b) >= 0 ? a : b;
}

/**
 * Orders two id texts, as {@linkcode compareIds} orders parsed ids.
 *
 * @throws {RangeError} when either text is not an id of this hub
 */
export function compareIdText(a: string, b: string): number {
  const left = parseId(a);
  const right = parseId(b);
  if (left === null || right === null) {
    throw new RangeError(`Cannot compare ids "${a}" and "${b}"`);
  }
  return compareIds(left, right);
}
