/**
 * herald as a Mercure hub in a real browser, the way Symfony apps use one:
 * the app sets the `mercureAuthorization` cookie, its page subscribes with
 * native `EventSource` (withCredentials) to a URI template, and curl
 * publishes with a form body and a Bearer token, as a Symfony publisher does.
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

function page(hub: string): string {
  return `<!doctype html><meta charset="utf-8"><title>App</title>
<ul id="feed"></ul>
<script type="module">
  const url = new URL("${hub}/.well-known/mercure");
  url.searchParams.append("topic", "https://example.com/books/{id}");
  const source = new EventSource(url, { withCredentials: true });
  source.onopen = () => { document.body.dataset.status = "open"; };
  source.onmessage = (event) => {
    const li = document.createElement("li");
    li.textContent = event.data + " #" + event.lastEventId;
    document.querySelector("#feed").append(li);
  };
</script>`;
}

async function curlPublish(
  server: TestServer,
  token: string,
  fields: string[],
): Promise<string> {
  const output = await new Deno.Command("curl", {
    args: [
      "--silent",
      "--show-error",
      "--fail",
      "-H",
      `Authorization: Bearer ${token}`,
      ...fields.flatMap((field) => ["--data-urlencode", field]),
      `${server.url}.well-known/mercure`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return new TextDecoder().decode(output.stdout);
}

Deno.test("browser: a page subscribes with EventSource and the mercureAuthorization cookie and receives what curl publishes", async () => {
  const sitePort = freePort();
  const subscriber = await mint({
    subscribe: ["https://example.com/books/{id}"],
  });
  const publisher = await mint({ publish: ["*"] });
  let hubUrl = "";
  const site = Deno.serve(
    { hostname: "127.0.0.1", port: sitePort, onListen() {} },
    () =>
      new Response(page(hubUrl), {
        headers: {
          "content-type": "text/html",
          "set-cookie":
            `mercureAuthorization=${subscriber}; Path=/.well-known/mercure; HttpOnly; SameSite=Lax`,
        },
      }),
  );
  let server: TestServer | undefined;
  let browser: TestBrowser | undefined;
  try {
    server = await startServer({
      env: {
        JWT_SECRET: SECRET,
        ALLOWED_ORIGINS: `http://127.0.0.1:${sitePort}`,
      },
    });
    hubUrl = server.url.replace(/\/$/, "");
    browser = await launchBrowser();
    const { page: tab, problems } = await browser.newPage();
    await tab.goto(`http://127.0.0.1:${sitePort}/`);
    await tab.locator('body[data-status="open"]').waitFor({
      state: "attached",
    });
    const id = await curlPublish(server, publisher, [
      "topic=https://example.com/books/1",
      'data={"title":"Private book"}',
      "private=on",
    ]);
    await curlPublish(server, publisher, [
      "topic=https://example.com/authors/1",
      "data=not followed",
    ]);
    await curlPublish(server, publisher, [
      "topic=https://example.com/books/2",
      "data=public book",
      "id=book-2",
    ]);
    await tab.locator("#feed li", { hasText: "public book" }).waitFor();
    assert.deepEqual(
      await tab.evaluate(() =>
        [...document.querySelectorAll("#feed li")].map((li) => li.textContent)
      ),
      [`{"title":"Private book"} #${id}`, "public book #book-2"],
    );
    assert.deepEqual(problems, []);
  } finally {
    await browser?.close();
    await server?.stop();
    await site.shutdown();
  }
});
