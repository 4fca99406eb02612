/**
 * Private topics in a real browser: a page on another origin subscribes
 * with the cookie its own server set (EventSource withCredentials) and
 * receives private events; a page on another site, whose requests carry no
 * such cookie, gets the public ones only.
 */
import assert from "node:assert/strict";
import {
  freePort,
  launchBrowser,
  type PageDocument,
  startServer,
  type TestBrowser,
  type TestServer,
} from "./_browser.ts";
import { mint, SECRET } from "./_tokens.ts";

declare const document: PageDocument;

const PUBLISH_TOKEN = "publisher-token";
const TOPIC = "users/42/notes";

function page(hub: string): string {
  return `<!doctype html><meta charset="utf-8"><title>App</title>
<ul id="feed"></ul>
<script type="module">
  import { connect } from "${hub}/static/herald.js";
  const feed = document.querySelector("#feed");
  const hub = connect("${hub}/events", {
    topics: [${JSON.stringify(TOPIC)}],
    withCredentials: true,
    onStatus(status) { document.body.dataset.status = status; },
  });
  hub.on("note", ({ data }) => {
    const li = document.createElement("li");
    li.textContent = data.message;
    feed.append(li);
  });
</script>`;
}

async function publish(
  server: TestServer,
  message: string,
  isPrivate: boolean,
): Promise<void> {
  const response = await fetch(`${server.url}message`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${PUBLISH_TOKEN}`,
    },
    body: JSON.stringify({
      topic: TOPIC,
      event: "note",
      message,
      ...(isPrivate ? { private: true } : {}),
    }),
  });
  assert.equal(response.status, 202, await response.text());
}

Deno.test("browser: a page on another origin receives private events with its cookie; a page without it never does", async () => {
  const sitePort = freePort();
  const token = await mint({ subscribe: ["users/42/*"] });
  // The application server: sets the cookie (no Domain: this host only,
  // any port, so the hub on 127.0.0.1 gets it too) and serves the page.
  let hubUrl = "";
  const site = Deno.serve(
    { hostname: "127.0.0.1", port: sitePort, onListen() {} },
    (request) => {
      const url = new URL(request.url);
      const headers = new Headers({ "content-type": "text/html" });
      if (url.pathname === "/login") {
        headers.set(
          "set-cookie",
          `mercureAuthorization=${token}; Path=/; HttpOnly; SameSite=Lax`,
        );
      }
      return new Response(page(hubUrl), { headers });
    },
  );
  let server: TestServer | undefined;
  let browser: TestBrowser | undefined;
  try {
    server = await startServer({
      env: {
        JWT_SECRET: SECRET,
        PUBLISH_TOKEN,
        ALLOWED_ORIGINS:
          `http://127.0.0.1:${sitePort},http://localhost:${sitePort}`,
      },
    });
    hubUrl = server.url.replace(/\/$/, "");
    browser = await launchBrowser();
    const withCookie = await browser.newPage();
    await withCookie.page.goto(`http://127.0.0.1:${sitePort}/login`);
    // Another site (localhost is not 127.0.0.1): its requests to the hub
    // carry no SameSite=Lax cookie, even with credentials.
    const without = await browser.newPage();
    await without.page.goto(`http://localhost:${sitePort}/`);
    for (const { page } of [withCookie, without]) {
      await page.locator('body[data-status="open"]').waitFor({
        state: "attached",
      });
    }
    await publish(server, "private note", true);
    await publish(server, "public note", false);
    const texts = (p: typeof withCookie.page) =>
      p.evaluate(() =>
        [...document.querySelectorAll("#feed li")].map((li) => li.textContent)
      );
    await withCookie.page.locator("#feed li", { hasText: "public note" })
      .waitFor();
    assert.deepEqual(await texts(withCookie.page), [
      "private note",
      "public note",
    ]);
    // Same topic, so in order: had the private one come, it would be first.
    await without.page.locator("#feed li", { hasText: "public note" })
      .waitFor();
    assert.deepEqual(await texts(without.page), ["public note"]);
    assert.deepEqual([...withCookie.problems, ...without.problems], []);
  } finally {
    await browser?.close();
    await server?.stop();
    await site.shutdown();
  }
});
