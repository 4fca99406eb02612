/**
 * @module The V8 flags herald's launcher runs `deno serve` with, and why.
 * Deno-only (it reads how Deno takes V8 flags).
 *
 * V8 sizes its young generation from the machine's memory and grows it up to
 * that size under a high allocation rate. Big messages are such a rate: each
 * 60 KB publish makes a few 60 KB strings (body, parsed message, event data,
 * SSE frame) that die at once. On a 23.5 GiB machine the young generation
 * then kept about 50 MiB committed that a full GC did not give back, for a
 * live heap of 8 MiB (`deno task bench --soak --gc`, BENCHMARKS.md). A semi-
 * space of 8 MiB bounds it; small events allocate far less than that between
 * scavenges, so their cost does not change measurably.
 */

/** The semi-space size herald runs with, in MiB. */
export const SEMI_SPACE_MIB = 8;

/**
 * The `--v8-flags=` argument for a `deno` child, or none when DENO_V8_FLAGS
 * already sets the young generation (the operator's choice wins).
 */
export function heapFlags(env: Record<string, string | undefined>): string[] {
  if (/semi[-_]space/.test(env.DENO_V8_FLAGS ?? "")) return [];
  return [`--v8-flags=--max-semi-space-size=${SEMI_SPACE_MIB}`];
}
