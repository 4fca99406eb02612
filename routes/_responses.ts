/** @module Response helpers shared by the routes: JSON bodies and errors. */

/** A JSON response with `status` (200 unless given). */
export function json(body: unknown, init: ResponseInit = {}): Response {
  const headers = new Headers(init.headers);
  headers.set("content-type", "application/json; charset=utf-8");
  headers.set("cache-control", "no-store");
  return new Response(JSON.stringify(body), { ...init, headers });
}

/** A JSON `{error}` response; every error herald answers has this shape. */
export function jsonError(
  status: number,
  error: string,
  headers?: HeadersInit,
): Response {
  return json({ error }, {
    status,
    ...(headers === undefined ? {} : { headers }),
  });
}
