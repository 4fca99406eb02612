/**
 * @module Test helper: a Deno KV file in a fresh temporary directory, and
 * kv engines on it with fast timings. `await using` removes the directory.
 */
import {
  type KvEngine,
  type KvEngineOptions,
  openKvEngine,
} from "../engines/kv/engine.ts";

/** A temporary KV file; dispose of it to remove its directory. */
export interface KvFile extends AsyncDisposable {
  /** The file's path (it does not exist until a database opens it). */
  readonly path: string;
  /** The directory that holds it. */
  readonly dir: string;
}

/** Makes a temporary directory for one KV file. */
export async function tempKvFile(): Promise<KvFile> {
  const dir = await Deno.makeTempDir({ prefix: "herald-kv-" });
  return {
    dir,
    path: `${dir}/herald.kv`,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A kv engine on `path`, with timings fit for tests; dispose closes it. */
export async function openTestKvEngine(
  path: string,
  options: KvEngineOptions = {},
): Promise<KvEngine & AsyncDisposable> {
  const engine = await openKvEngine({
    path,
    pollMs: 10,
    presenceIntervalMs: 50,
    presenceTtlMs: 1000,
    // Retention runs when a test asks (engine.trim()), not on its own.
    trimIntervalMs: 3_600_000,
    ...options,
  });
  return { ...engine, [Symbol.asyncDispose]: () => engine.close() };
}
