/**
 * @module The client's static files, embedded in the bundle as bytes (raw
 * imports, inlined by `deno bundle`), so a runtime entry needs no file
 * system: workerd has none, and the Bun and Node bundles stay one file.
 * tests/runtimes_test.ts checks that this list is the whole of `static/`.
 * Web-only.
 */
import appJs from "../static/app.js" with { type: "bytes" };
import heraldJs from "../static/herald.js" with { type: "bytes" };
import heraldSharedJs from "../static/herald_shared.js" with { type: "bytes" };
import iconSvg from "../static/icon.svg" with { type: "bytes" };
import indexHtml from "../static/index.html" with { type: "bytes" };
import styleCss from "../static/style.css" with { type: "bytes" };
import type { ReadAsset } from "../routes/_types.ts";

/** Every file of `static/`, by its path below it. */
export const EMBEDDED_ASSETS: ReadonlyMap<string, Uint8Array> = new Map([
  ["app.js", appJs],
  ["herald.js", heraldJs],
  ["herald_shared.js", heraldSharedJs],
  ["icon.svg", iconSvg],
  ["index.html", indexHtml],
  ["style.css", styleCss],
]);

/** A `ReadAsset` over {@linkcode EMBEDDED_ASSETS}. */
export const readEmbeddedAsset: ReadAsset = function readEmbeddedAsset(
  path: string,
): Promise<Uint8Array | null> {
  return Promise.resolve(EMBEDDED_ASSETS.get(path) ?? null);
};
