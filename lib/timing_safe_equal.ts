/**
 * @module Comparison of secrets in time that does not depend on where they
 * differ, so a token cannot be guessed byte by byte from response times.
 * Web-only.
 */

const encoder = new TextEncoder();

/**
 * Whether `given` equals `expected`, in time that depends only on the length
 * of `expected`.
 *
 * @example
 * ```ts
 * import { timingSafeEqual } from "./timing_safe_equal.ts";
 * if (!timingSafeEqual("s3cret", "s3cret") || timingSafeEqual("s3creT", "s3cret")) throw new Error();
 * ```
 */
export function timingSafeEqual(given: string, expected: string): boolean {
  const a = encoder.encode(given);
  const b = encoder.encode(expected);
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) {
    diff |= (a[i % Math.max(a.length, 1)] ?? 0) ^ (b[i] ?? 0);
  }
  return diff === 0;
}
