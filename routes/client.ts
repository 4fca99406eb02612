/**
 * @module GET / and GET /static/*: the browser client, read through the
 * injected `readAsset` port, with Content-Type, ETag and 304.
 */
import { resolveStaticPath } from "../lib/safe_path.ts";
import { jsonError } from "./_responses.ts";
import type { MethodTable, RouteContext } from "./_types.ts";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json; charset=utf-8",
  webmanifest: "application/manifest+json; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
  txt: "text/plain; charset=utf-8",
};

async function etagOf(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  let hex = "";
  for (const byte of digest.subarray(0, 16)) {
    hex += byte.toString(16).padStart(2, "0");
  }
  return `"${hex}"`;
}

function matches(ifNoneMatch: string | null, etag: string): boolean {
  if (ifNoneMatch === null) return false;
  return ifNoneMatch.split(",").some((tag) => {
    const trimmed = tag.trim();
    return trimmed === "*" || trimmed.replace(/^W\//, "") === etag;
  });
}

/** Serves the file at a safe relative `path`, or 404. */
async function serveAsset(
  context: RouteContext,
  path: string | null,
): Promise<Response> {
  const type = path === null
    ? undefined
    : CONTENT_TYPES[path.slice(path.lastIndexOf(".") + 1)];
  const bytes = path === null || type === undefined
    ? null
    : await context.readAsset(path);
  if (bytes === null || type === undefined) {
    return jsonError(404, `Not found: ${context.url.pathname}`);
  }
  const etag = await etagOf(bytes);
  const headers = {
    "content-type": type,
    "etag": etag,
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
  };
  if (matches(context.request.headers.get("if-none-match"), etag)) {
    return new Response(null, { status: 304, headers });
  }
  return new Response(bytes as Uint8Array<ArrayBuffer>, { headers });
}

/** The method table of `/`: the page. */
export const indexHandlers: MethodTable = {
  GET: (context) => serveAsset(context, "index.html"),
};

/** The method table of `/static/*`: the page's assets. */
export const staticHandlers: MethodTable = {
  GET: (context) =>
    serveAsset(
      context,
      resolveStaticPath(context.url.pathname.slice("/static/".length)),
    ),
};
