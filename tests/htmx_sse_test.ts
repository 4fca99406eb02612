/**
 * herald under htmx's SSE extension, in a real browser: a page on another
 * origin loads htmx 2 and htmx-ext-sse from their npm packages (served by
 * the test, no network), connects with `sse-connect` to herald's /events and
 * swaps every `chat` event into the page as HTML (`sse-swap="chat"`). The
 * events arrive, and a publisher's markup never runs: herald writes `<`,
 * `>` and `&` in its JSON as `\uXXXX` (lib/json_text.ts).
 *
 * Versions: htmx.org 2.0.11, the newest 2.x, with htmx-ext-sse 2.2.4, the
 * newest extension, which requires htmx ^2: the pairing most htmx sites run.
 * htmx 4 moved SSE into its own `hx-sse` extension, which dispatches named
 * events (herald's are all named) as DOM events instead of swapping them.
 */
import assert from "node:assert/strict";
import htmxScript from "htmx.org/dist/htmx.js" with { type: "text" };
import sseScript from "htmx-ext-sse/dist/sse.js" with { type: "text" };
import { launchBrowser, serveSite, startServer } from "./_browser.ts";

/**
 * What a publisher would send to run code in a page that swaps event data
 * in as HTML. `KEY` becomes where it was swapped, so the page can tell a
 * payload herald delivered from the control the page swaps in itself.
 */
const PAYLOADS = {
  img: "<img src=x onerror=ran.push('KEY')>",
  script: "<script>ran.push('KEY')</script>",
  iframe: "<iframe src=javascript:parent.ran.push('KEY')></iframe>",
  hxOn: "<div hx-on:htmx:load=ran.push('KEY')></div>",
  details: "<details open ontoggle=ran.push('KEY')>",
} as const;

/** Text an HTML parser would decode: it must show as sent. */
const CHARACTER_REFERENCES = "&lt;img src=x onerror=ran.push('sse-ref')&gt;";

type PayloadName = keyof typeof PAYLOADS;
const NAMES = Object.keys(PAYLOADS) as PayloadName[];

/** The payload `name`, marked as swapped in by `where`. */
function payload(name: PayloadName, where: string): string {
  return PAYLOADS[name].replace("KEY", `${where}-${name}`);
}

/**
 * The page: htmx, its SSE extension and a chat box that herald's `chat`
 * events replace. htmx-ext-sse opens its EventSource with
 * `withCredentials: true`, which CORS allows only with
 * `Access-Control-Allow-Credentials`; herald never sends that, so a page on
 * another origin opens it without credentials (the hook the extension
 * provides for this).
 */
function pageHtml(hubUrl: string): string {
  return `<!doctype html><meta charset="utf-8"><title>htmx and herald</title>
<script src="/htmx.js"></script>
<script src="/sse.js"></script>
<script>
  window.ran = [];
  window.received = [];
  htmx.createEventSource = (url) => new EventSource(url);
  document.addEventListener("htmx:sseOpen", () => {
    document.body.dataset.sse = "open";
  });
  document.addEventListener("htmx:sseMessage", (event) => {
    received.push({ id: event.detail.lastEventId, data: event.detail.data });
  });
</script>
<body hx-ext="sse">
  <div sse-connect="${hubUrl}events?topic=chat">
    <div id="chat" sse-swap="chat"></div>
  </div>
  <div id="control"></div>
</body>`;
}

interface Received {
  id: string;
  data: string;
}

Deno.test("htmx-ext-sse on another origin receives herald's events and never runs publisher markup", async () => {
  const server = await startServer();
  try {
    await using site = serveSite({
      "/": { type: "text/html; charset=utf-8", body: pageHtml(server.url) },
      "/htmx.js": { type: "text/javascript", body: htmxScript },
      "/sse.js": { type: "text/javascript", body: sseScript },
    });
    const browser = await launchBrowser();
    try {
      const { page, problems } = await browser.newPage();
      await page.goto(site.url);
      await page.locator('body[data-sse="open"]').waitFor({
        state: "attached",
      });

      const messages = [
        ...NAMES.map((name) => payload(name, "sse")),
        CHARACTER_REFERENCES,
        "plain text, last",
      ];
      const ids: string[] = [];
      for (const [index, message] of messages.entries()) {
        ids.push((await server.publish(message)).id);
        // htmx-ext-sse fires htmx:sseMessage once it has swapped the data.
        await page.waitForFunction(
          (count) =>
            (globalThis as unknown as { received: Received[] }).received
              .length >= count,
          index + 1,
          { polling: 50 },
        );
        // sse-swap replaced #chat with the event's data, parsed as HTML:
        // the JSON is text, no element, and it reads back as the message.
        const chat = page.locator("#chat");
        assert.equal(
          await chat.evaluate((element) => element.childElementCount),
          0,
          `${message} became elements`,
        );
        assert.equal(
          JSON.parse(await chat.textContent() ?? "").message,
          message,
        );
      }
      const received = await page.evaluate(() =>
        (globalThis as unknown as { received: Received[] }).received
      );
      assert.deepEqual(received.map((event) => event.id), ids);
      assert.deepEqual(
        received.map((event) => JSON.parse(event.data).message),
        messages,
      );

      // The control: the same payloads in JSON as JSON.stringify writes it,
      // swapped by htmx into #control, do run. By the time all have, the
      // ones herald delivered before them would have run too.
      const controls = NAMES.map((name) => payload(name, "control"));
      await page.evaluate((controls) => {
        const { htmx } = globalThis as unknown as {
          htmx: { swap(target: string, html: string, spec: object): void };
        };
        for (const message of controls) {
          htmx.swap("#control", JSON.stringify({ message }), {
            swapStyle: "beforeend",
          });
        }
      }, controls);
      await page.waitForFunction(
        (count) =>
          (globalThis as unknown as { ran: string[] }).ran.length >= count,
        controls.length,
        { polling: 50 },
      ).catch(() => {}); // The assertion below says what ran.
      const ran = await page.evaluate(() =>
        (globalThis as unknown as { ran: string[] }).ran
      );
      assert.deepEqual(
        [...ran].sort(),
        NAMES.map((name) => `control-${name}`).sort(),
        "only the control's markup ran",
      );
      assert.deepEqual(problems, [], "no page errors");
    } finally {
      await browser.close();
    }
  } finally {
    await server.stop();
  }
});
