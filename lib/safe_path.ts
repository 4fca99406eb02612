/**
 * @module Static path safety: turns the part of a URL after `/static/` into
 * a relative file path that cannot leave the static folder, or null. Web-only.
 *
 * Layered on purpose: the path is decoded once, then every segment must be a
 * plain name from a strict alphabet. `..` in any spelling (raw, `%2e%2e`,
 * `%2F..`, double-encoded, backslashes, NUL) and dotfiles are refused.
 */

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/**
 * Returns a safe relative path for `urlPath`, or null when it is not one.
 *
 * @example
 * ```ts
 * import { resolveStaticPath } from "./safe_path.ts";
 * if (resolveStaticPath("app.js") !== "app.js") throw new Error();
 * if (resolveStaticPath("%2e%2e/secret") !== null) throw new Error();
 * ```
 */
export function resolveStaticPath(urlPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.length === 0 || decoded.length > 512) return null;
  const segments = decoded.split("/");
  for (const segment of segments) {
    if (!SEGMENT.test(segment) || segment === "." || segment === "..") {
      return null;
    }
  }
  return segments.join("/");
}
