/** GET / and GET /static/*: the browser client, its headers, and no way out of static/. */
import assert from "node:assert/strict";
import { rawGet, rawRequest } from "./_raw_http.ts";
import { startServer } from "./_server.ts";

/** Text found in main.ts and nowhere in static/: it must never be served. */
const SECRET_MARKER = "composition root";

function portOf(url: string): number {
  return Number(new URL(url).port);
}

Deno.test("GET / answers 200 text/html with the page", async () => {
  await using server = await startServer();
  const response = await fetch(`${server.url}/`);
  const body = await response.text();
  assert.equal(response.status, 200);
  assert.equal(
    response.headers.get("content-type"),
    "text/html; charset=utf-8",
  );
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  assert.match(body, /^<!doctype html>/i);
});

const ASSETS: Array<[string, string]> = [
  ["app.js", "text/javascript; charset=utf-8"],
  ["herald.js", "text/javascript; charset=utf-8"],
  ["style.css", "text/css; charset=utf-8"],
  ["icon.svg", "image/svg+xml"],
  ["index.html", "text/html; charset=utf-8"],
];

for (const [file, type] of ASSETS) {
  Deno.test(`GET /static/${file} answers 200 ${type} with a strong ETag`, async () => {
    await using server = await startServer();
    const response = await fetch(`${server.url}/static/${file}`);
    const body = new Uint8Array(await response.arrayBuffer());
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), type);
    assert.match(response.headers.get("etag") ?? "", /^"[0-9a-f]{32}"$/);
    assert.deepEqual(
      body,
      await Deno.readFile(new URL(`../static/${file}`, import.meta.url)),
    );
  });
}

Deno.test("GET /static/* answers 304 with no body to a matching If-None-Match", async () => {
  await using server = await startServer();
  const first = await fetch(`${server.url}/static/app.js`);
  await first.body?.cancel();
  const etag = first.headers.get("etag")!;
  for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
    const again = await fetch(`${server.url}/static/app.js`, {
      headers: { "if-none-match": ifNoneMatch },
    });
    assert.equal(again.status, 304, ifNoneMatch);
    assert.equal(again.headers.get("etag"), etag);
    assert.equal(await again.text(), "");
  }
  const changed = await fetch(`${server.url}/static/app.js`, {
    headers: { "if-none-match": '"0123"' },
  });
  assert.equal(changed.status, 200);
  await changed.body?.cancel();
});

Deno.test("HEAD /static/* answers the GET headers with no body", async () => {
  await using server = await startServer();
  const response = await fetch(`${server.url}/static/style.css`, {
    method: "HEAD",
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/css; charset=utf-8");
  assert.equal(await response.text(), "");
});

Deno.test("GET /static/* answers 404 JSON for an unknown file or type", async () => {
  await using server = await startServer();
  for (
    const path of ["/static/missing.js", "/static/", "/static/app", "/nope"]
  ) {
    const response = await fetch(`${server.url}${path}`);
    assert.equal(response.status, 404, path);
    assert.match(response.headers.get("content-type") ?? "", /json/);
    assert.ok(typeof (await response.json()).error === "string");
  }
});

Deno.test("POST /static/* answers 405 with Allow", async () => {
  await using server = await startServer();
  const response = await fetch(`${server.url}/static/app.js`, {
    method: "POST",
    body: "x",
  });
  assert.equal(response.status, 405);
  assert.equal(response.headers.get("allow"), "GET, HEAD, OPTIONS");
  await response.body?.cancel();
});

/**
 * Request targets that try to leave static/, sent byte for byte on a raw
 * socket (fetch() would normalise most of them first).
 */
const TRAVERSALS = [
  "/static/../main.ts",
  "/static/../../../../etc/passwd",
  "/static/..%2Fmain.ts",
  "/static/..%2fmain.ts",
  "/static/%2e%2e/main.ts",
  "/static/%2E%2E/main.ts",
  "/static/%2e%2e%2fmain.ts",
  "/static/.%2e/main.ts",
  "/static/%2e./main.ts",
  "/static/%2F..%2F..%2Fmain.ts",
  "/static/..%5cmain.ts",
  "/static/..\\main.ts",
  "/static/%252e%252e%252fmain.ts",
  "/static/%c0%ae%c0%ae/main.ts",
  "/static/....//main.ts",
  "/static/..;/main.ts",
  "/static/app.js/../../main.ts",
  "/static/app.js%00.html",
  "/static/%2Fetc%2Fpasswd",
  "/static//etc/passwd",
  "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
  "/static/.gitignore",
  "/%2e%2e/main.ts",
  "http://127.0.0.1/static/../main.ts",
];

for (const target of TRAVERSALS) {
  Deno.test(`GET ${target} on a raw socket answers 404 and serves nothing outside static/`, async () => {
    await using server = await startServer();
    const response = await rawRequest(portOf(server.url), rawGet(target));
    assert.equal(response.status, 404, response.head);
    assert.ok(!response.body.includes(SECRET_MARKER), response.body);
    assert.ok(!response.body.includes("root:"), response.body);
  });
}

Deno.test("GET /static/* over a raw socket serves a real asset (the traversal tests can see a 200)", async () => {
  await using server = await startServer();
  const response = await rawRequest(
    portOf(server.url),
    rawGet("/static/app.js"),
  );
  assert.equal(response.status, 200);
  assert.equal(
    response.body,
    await Deno.readTextFile(new URL("../static/app.js", import.meta.url)),
  );
  // And the marker really is in main.ts, so its absence above means something.
  assert.ok(
    (await Deno.readTextFile(new URL("../main.ts", import.meta.url)))
      .includes(SECRET_MARKER),
  );
});
