/** CORS over a real socket: the allow-list, `*` without credentials, and the preflight. */
import assert from "node:assert/strict";
import { startServer } from "./_server.ts";

const ALLOWED = "https://app.example";
const OTHER = "https://evil.example";

async function request(
  url: string,
  init: RequestInit = {},
): Promise<Response> {
  const response = await fetch(url, init);
  await response.body?.cancel();
  return response;
}

/** Every route and method a page can reach, with a body where one is needed. */
const REQUESTS: Array<[string, string, RequestInit]> = [
  ["GET /", "/", {}],
  ["GET /static/app.js", "/static/app.js", {}],
  ["GET /stats", "/stats", {}],
  ["GET /events", "/events", {}],
  ["POST /message", "/message", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: '{"message":"x"}',
  }],
  ["POST /message (400)", "/message", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{",
  }],
  ["GET /nope (404)", "/nope", {}],
  ["OPTIONS /message", "/message", { method: "OPTIONS" }],
];

for (const [name, path, init] of REQUESTS) {
  Deno.test(`${name} with the default ALLOWED_ORIGINS answers ACAO * and never allows credentials`, async () => {
    await using server = await startServer();
    const response = await request(`${server.url}${path}`, {
      ...init,
      headers: { ...init.headers, origin: OTHER },
    });
    assert.equal(response.headers.get("access-control-allow-origin"), "*");
    assert.equal(
      response.headers.get("access-control-allow-credentials"),
      null,
    );
  });

  Deno.test(`${name} echoes an allowed origin, with Vary: Origin`, async () => {
    await using server = await startServer({
      env: { ALLOWED_ORIGINS: `${ALLOWED}, https://other.example` },
    });
    const response = await request(`${server.url}${path}`, {
      ...init,
      headers: { ...init.headers, origin: ALLOWED },
    });
    assert.equal(
      response.headers.get("access-control-allow-origin"),
      ALLOWED,
    );
    assert.match(response.headers.get("vary") ?? "", /\bOrigin\b/i);
    assert.equal(
      response.headers.get("access-control-allow-credentials"),
      null,
    );
  });

  Deno.test(`${name} gives an origin not on the list no Access-Control-Allow-Origin`, async () => {
    await using server = await startServer({
      env: { ALLOWED_ORIGINS: ALLOWED },
    });
    for (
      const origin of [
        OTHER,
        "null",
        `${ALLOWED}.evil.example`,
        "http://app.example",
        `${ALLOWED}:444`,
      ]
    ) {
      const response = await request(`${server.url}${path}`, {
        ...init,
        headers: { ...init.headers, origin },
      });
      assert.equal(
        response.headers.get("access-control-allow-origin"),
        null,
        origin,
      );
      assert.match(response.headers.get("vary") ?? "", /\bOrigin\b/i);
    }
  });
}

Deno.test("GET /events with an allow-list and no Origin header answers without ACAO", async () => {
  await using server = await startServer({ env: { ALLOWED_ORIGINS: ALLOWED } });
  const response = await request(`${server.url}/events`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("access-control-allow-origin"), null);
  assert.match(response.headers.get("vary") ?? "", /\bOrigin\b/i);
});

function listOf(value: string | null): string[] {
  return (value ?? "").split(",").map((item) => item.trim().toLowerCase())
    .filter((item) => item !== "");
}

Deno.test("OPTIONS /events preflight allows Last-Event-ID, so a long or non-ASCII id can be sent", async () => {
  await using server = await startServer({ env: { ALLOWED_ORIGINS: ALLOWED } });
  const response = await request(`${server.url}/events`, {
    method: "OPTIONS",
    headers: {
      origin: ALLOWED,
      "access-control-request-method": "GET",
      "access-control-request-headers": "last-event-id",
    },
  });
  assert.ok(response.status === 204 || response.status === 200);
  assert.equal(response.headers.get("access-control-allow-origin"), ALLOWED);
  assert.ok(
    listOf(response.headers.get("access-control-allow-headers")).includes(
      "last-event-id",
    ),
  );
  assert.ok(
    listOf(response.headers.get("access-control-allow-methods")).includes(
      "get",
    ),
  );
});

Deno.test("OPTIONS /message preflight allows POST with Content-Type and Authorization", async () => {
  await using server = await startServer({ env: { ALLOWED_ORIGINS: ALLOWED } });
  const response = await request(`${server.url}/message`, {
    method: "OPTIONS",
    headers: {
      origin: ALLOWED,
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type, authorization",
    },
  });
  assert.ok(response.status === 204 || response.status === 200);
  assert.equal(response.headers.get("access-control-allow-origin"), ALLOWED);
  const headers = listOf(response.headers.get("access-control-allow-headers"));
  for (const name of ["content-type", "authorization", "last-event-id"]) {
    assert.ok(headers.includes(name), name);
  }
  assert.ok(
    listOf(response.headers.get("access-control-allow-methods")).includes(
      "post",
    ),
  );
  assert.equal(response.headers.get("access-control-allow-credentials"), null);
  assert.match(response.headers.get("vary") ?? "", /\bOrigin\b/i);
});

Deno.test("OPTIONS preflight from an origin not on the list gets no ACAO", async () => {
  await using server = await startServer({ env: { ALLOWED_ORIGINS: ALLOWED } });
  const response = await request(`${server.url}/message`, {
    method: "OPTIONS",
    headers: {
      origin: OTHER,
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type, authorization",
    },
  });
  assert.equal(response.headers.get("access-control-allow-origin"), null);
});

Deno.test("Errors a page must read carry CORS headers: 503 when full, 401 without token", async () => {
  await using server = await startServer({
    env: {
      ALLOWED_ORIGINS: ALLOWED,
      MAX_CLIENTS: "1",
      PUBLISH_TOKEN: "t0ken",
    },
  });
  const first = await fetch(`${server.url}/events`);
  try {
    const full = await request(`${server.url}/events`, {
      headers: { origin: ALLOWED },
    });
    assert.equal(full.status, 503);
    assert.equal(full.headers.get("access-control-allow-origin"), ALLOWED);
    const denied = await request(`${server.url}/message`, {
      method: "POST",
      headers: { origin: ALLOWED, "content-type": "application/json" },
      body: '{"message":"x"}',
    });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get("access-control-allow-origin"), ALLOWED);
  } finally {
    await first.body?.cancel();
  }
});

for (const allowed of ["*", ALLOWED]) {
  Deno.test(`A 503 from GET /events exposes Retry-After to a cross-origin page (ALLOWED_ORIGINS=${allowed})`, async () => {
    // Retry-After is not a CORS-safelisted response header: without
    // Access-Control-Expose-Headers, a page on another origin (herald.js
    // imported from the hub) reads null and cannot say when to retry.
    await using server = await startServer({
      env: { ALLOWED_ORIGINS: allowed, MAX_CLIENTS: "1" },
    });
    const first = await fetch(`${server.url}/events`);
    try {
      const full = await request(`${server.url}/events`, {
        headers: { origin: ALLOWED },
      });
      assert.equal(full.status, 503);
      assert.ok(full.headers.has("retry-after"));
      assert.ok(
        listOf(full.headers.get("access-control-expose-headers")).includes(
          "retry-after",
        ),
        String(full.headers.get("access-control-expose-headers")),
      );
    } finally {
      await first.body?.cancel();
    }
  });
}
