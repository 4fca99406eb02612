/** @module Deno adapter: reads static assets from disk for the `readAsset` port. */
import type { ReadAsset } from "../routes/_types.ts";

/** Makes a `ReadAsset` that reads files below `root` (a folder URL ending in "/"). */
export function createDenoAssetReader(root: URL): ReadAsset {
  return async function readAsset(path: string): Promise<Uint8Array | null> {
    try {
      return await Deno.readFile(new URL(path, root));
    } catch (error) {
      if (
        error instanceof Deno.errors.NotFound ||
        error instanceof Deno.errors.IsADirectory
      ) return null;
      // Reading a folder fails differently on some systems; treat it as missing too.
      if (error instanceof Error && /directory/i.test(error.message)) {
        return null;
      }
      throw error;
    }
  };
}
