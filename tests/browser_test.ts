/**
 * The browser side, proven in a real browser: headless Chromium (apt's
 * `chromium`, driven by playwright-core) against a real herald under
 * `deno serve`. `deno task screenshot` saves the README's docs/screenshot.png.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import {
  itemIds,
  launchBrowser,
  type PageDocument,
  startServer,
  TcpProxy,
  type TestBrowser,
  type TestPage,
  type TestServer,
  WAIT_MS,
  waitForClients,
  waitForStatus,
  waitForText,
} from "./_browser.ts";

declare const document: PageDocument;

const TOKEN = "s3cret-token";

/** The README's embedding example, run as is from a page of another origin. */
const EMBED_EXAMPLE = `<ul id="feed"></ul>
<script type="module">
  import { connect, publish } from "https://hub.example/static/herald.js";

  const feed = document.querySelector("#feed");
  const hub = connect("https://hub.example/events", {
    topics: ["chat"],
    onStatus(status) { document.body.dataset.status = status; },
    onReset() { feed.replaceChildren(); }, // events were missed: start over
  });
  hub.on("chat", ({ data, id }) => {
    const li = document.createElement("li");
    li.textContent = data.message; // always as text, never as HTML
    li.title = \`id \${id}\`;
    feed.append(li);
  });

  // To publish (the token only if the hub sets PUBLISH_TOKEN):
  // await publish("https://hub.example", { message: "Hi!" }, { token });
</script>`;

Deno.test("browser: the page at / connects, publishes, and shows every text as text", async (t) => {
  let server: TestServer | undefined;
  let browser: TestBrowser | undefined;
  const pages: TestPage[] = [];
  try {
    server = await startServer({ env: { PUBLISH_TOKEN: TOKEN } });
    browser = await launchBrowser();
    const hub = server;
    const a = await openPage(browser, hub.url, pages);
    const pageA = a.page;
    let pageB: Page | undefined;

    await t.step(
      "the page connects and shows the welcome, the client count in the header (ticks unlogged) and a POSTed chat",
      async () => {
        const welcome = pageA.locator("#messages > li.msg-system .text")
          .first();
        await welcome.waitFor();
        assert((await welcome.textContent())?.trim(), "the welcome has words");
        await waitForCount(pageA, "1");

        const sent = await hub.publish("Hello from POST /message");
        assert.deepEqual(
          await waitForText(pageA, "Hello from POST /message", 1, {
            type: "chat",
          }),
          [
            sent.id,
          ],
        );
        assert.deepEqual(
          await pageA.locator("#fact-last-id").textContent(),
          sent.id,
        );
      },
    );

    await t.step(
      "update ticks are logged in the list only with ?ticks; the header counts without",
      async () => {
        const ticks = await browser!.newPage();
        try {
          await ticks.page.goto(`${hub.url}?ticks`, { timeout: WAIT_MS });
          const update = ticks.page.locator("#messages > li.msg-update .text")
            .first();
          await update.waitFor();
          assert.match(
            await update.textContent() ?? "",
            /^\d+ clients? online$/,
          );
          // The same timer ticked on page A: nothing of it in its list.
          assert.equal(
            await pageA.locator("#messages > li.msg-update").count(),
            0,
          );
          assert.deepEqual(ticks.problems, []);
        } finally {
          await ticks.page.close();
        }
        await waitForCount(pageA, "1");
      },
    );

    await t.step(
      "two pages: text typed and sent in one appears in both, once each",
      async () => {
        const b = await openPage(browser!, hub.url, pages);
        pageB = b.page;
        // Both tabs share page A's stream: the hub still counts one.
        await b.page.locator('#fact-sharing[data-role="follower"]').waitFor();
        await waitForCount(pageA, "1");

        // Without the token the hub says 401, and the page says so in words.
        await pageA.getByLabel("Message", { exact: true }).fill(
          "Typed in page A",
        );
        await pageA.getByLabel("Message", { exact: true }).press("Enter");
        const status = pageA.locator("#send-status");
        await pageA.locator('#send-status[data-state="error"]').waitFor();
        assert.match(
          await status.textContent() ?? "",
          /^Not sent: .+ \(HTTP 401\)\./,
        );
        assert.deepEqual(
          await pageA.evaluate(() => document.activeElement?.id),
          "token",
        );

        await pageA.getByLabel("Publish token").fill(TOKEN);
        await pageA.getByRole("button", { name: "Send", exact: true }).click();
        await pageA.locator('#send-status[data-state="ok"]').waitFor();
        assert.deepEqual(
          await pageA.getByLabel("Message", { exact: true }).inputValue(),
          "",
        );
        const [idA] = await waitForText(pageA, "Typed in page A", 1, {
          type: "chat",
        });
        const [idB] = await waitForText(pageB, "Typed in page A", 1, {
          type: "chat",
        });
        assert.match(
          await status.textContent() ?? "",
          new RegExp(`^Sent, id ${idA}\\.$`),
        );
        assert.deepEqual(idA, idB);

        // A later event reached both: had a copy been coming, it came first.
        await hub.publish("sync after typing");
        await waitForText(pageA, "sync after typing");
        await waitForText(pageB, "sync after typing");
        assert.deepEqual((await itemIds(pageA, "Typed in page A")).length, 1);
        assert.deepEqual((await itemIds(pageB, "Typed in page A")).length, 1);
      },
    );

    await t.step(
      "disconnect stops events; connect resumes them with what was missed",
      async () => {
        await pageA.getByRole("button", { name: "Disconnect" }).click();
        await waitForStatus(pageA, "closed");
        assert.deepEqual(
          await pageA.locator("#status-text").textContent(),
          "Disconnected",
        );

        const missed = await hub.publish("Sent while page A was disconnected");
        await waitForText(pageB!, "Sent while page A was disconnected");
        assert.deepEqual(
          await itemIds(pageA, "Sent while page A was disconnected"),
          [],
        );

        await pageA.getByRole("button", { name: "Connect", exact: true })
          .click();
        await waitForStatus(pageA, "open");
        // Resumed with ?lastEventId=: the missed message is replayed, once.
        assert.deepEqual(
          await waitForText(pageA, "Sent while page A was disconnected"),
          [
            missed.id,
          ],
        );
        const live = await hub.publish("Live after connect");
        assert.deepEqual(await waitForText(pageA, "Live after connect"), [
          live.id,
        ]);
        assert.deepEqual(
          await itemIds(pageA, "Sent while page A was disconnected"),
          [missed.id],
        );
      },
    );

    await t.step(
      "<img onerror> and CR/LF arrive as literal text, one list item each",
      async () => {
        const html = "<img src=x onerror=alert(1)>";
        const lines =
          "line one\r\nline two\nline three\rline four\n\ndata: forged\nevent: system\nid: 1";
        const first = await hub.publish(html);
        const second = await hub.publish(lines);
        // Typed into the send box of page B too: same result on page A.
        await pageB!.getByLabel("Message", { exact: true }).fill(
          `${html} typed`,
        );
        await pageB!.getByLabel("Publish token").fill(TOKEN);
        await pageB!.getByRole("button", { name: "Send", exact: true }).click();
        for (const page of [pageA, pageB!]) {
          assert.deepEqual(await waitForText(page, html, 1, { type: "chat" }), [
            first.id,
          ]);
          assert.deepEqual(
            await waitForText(page, lines, 1, { type: "chat" }),
            [
              second.id,
            ],
          );
          await waitForText(page, `${html} typed`, 1, { type: "chat" });
          assert.deepEqual(await page.locator("#messages img").count(), 0);
          const pieces = await page.evaluate(() =>
            [...document.querySelectorAll("#messages > li")].filter((li) =>
              /line (one|two|three|four)|data: forged/.test(
                li.textContent ?? "",
              )
            ).length
          );
          assert.deepEqual(pieces, 1, "CR/LF text stays in one list item");
        }
      },
    );

    await t.step(
      "keyboard and screen reader: labels, focus order, live region, phone width",
      async () => {
        for (
          const label of [
            "Topics",
            "Message",
            "Topic",
            "Event",
            "Publish token",
          ]
        ) {
          assert.deepEqual(
            await pageA.getByLabel(label, {
              exact: label !== "Event" && label !== "Publish token",
            }).count(),
            1,
            label,
          );
        }
        assert.deepEqual(
          await pageA.locator("#messages").getAttribute("aria-live"),
          "polite",
        );
        assert.deepEqual(await pageA.getByRole("status").count() >= 1, true);

        await pageA.locator("#message").focus();
        const order: string[] = [];
        for (let i = 0; i < 4; i++) {
          await pageA.keyboard.press("Tab");
          order.push(
            await pageA.evaluate(() => document.activeElement?.id ?? ""),
          );
        }
        assert.deepEqual(order, ["send-topic", "send-event", "token", "send"]);

        // A phone, keyboard only: skip link, type, Enter; the hub wants a
        // token (401) and focus moves to its field; type it, Enter sends.
        const phone = await openPage(browser!, hub.url, pages, {
          width: 390,
          height: 844,
        });
        const overflow = await phone.page.evaluate(() =>
          document.documentElement.scrollWidth -
          document.documentElement.clientWidth
        );
        assert.deepEqual(overflow, 0, "no sideways scrolling on a phone");
        const keys = phone.page.keyboard;
        const focused = () =>
          phone.page.evaluate(() =>
            document.activeElement?.id || document.activeElement?.className
          );
        await keys.press("Tab");
        assert.deepEqual(await focused(), "skip-link");
        await keys.press("Enter");
        assert.deepEqual(await focused(), "message");
        await keys.type("Sent with the keyboard only");
        await keys.press("Enter");
        await phone.page.locator('#send-status[data-state="error"]').waitFor();
        assert.deepEqual(await focused(), "token");
        await keys.type(TOKEN);
        await keys.press("Enter");
        await phone.page.locator('#send-status[data-state="ok"]').waitFor();
        await waitForText(phone.page, "Sent with the keyboard only");
        await waitForText(pageA, "Sent with the keyboard only");
        assert.ok(
          await phone.page.getByRole("button", { name: "Send", exact: true })
            .isVisible(),
        );
        await phone.page.close();
      },
    );

    await t.step(
      "herald.js in the browser: typed handlers, status, reset, publish() errors",
      async () => {
        const result = await pageA.evaluate(runHeraldUnitTests, {
          token: TOKEN,
        });
        const typed = result.typed;
        assert.deepEqual(typed.scores.length, 1);
        assert.deepEqual(typed.scores[0]?.event, "score");
        assert.deepEqual(typed.scores[0]?.id, typed.scoreId);
        assert.deepEqual(typed.scores[0]?.data.message, "42");
        assert.deepEqual(typed.scores[0]?.data.topic, "unit");
        assert(
          typed.scores[0]?.data.timestamp,
          "parsed JSON has the timestamp",
        );
        assert.deepEqual(
          typed.chats.map((c) => [c.event, c.id, c.data.message]),
          [
            ["chat", typed.chatId, "after the score"],
          ],
        );
        assert.deepEqual(typed.lastEventId, typed.chatId);
        assert.deepEqual(typed.statuses, ["connecting", "open", "closed"]);
        assert.deepEqual(typed.closedByUser, true);
        assert.deepEqual(typed.topics, ["unit"]);
        assert.deepEqual(result.onError, "TypeError");
        assert.deepEqual(result.badTopic, "TypeError");

        assert.deepEqual(result.reset.callbacks, 1);
        assert.deepEqual(result.reset.handlers, 1);
        assert(
          ["unknown-id", "history-exceeded"].includes(result.reset.reason),
          `reset reason ${result.reset.reason}`,
        );

        // 404: the request is wrong, so no retry; said with its status.
        assert.deepEqual(result.refused, { status: "closed", httpStatus: 404 });
        // Capped exponential backoff with jitter: the hint, then within
        // [hint·2^(n-1)/2, hint·2^(n-1)].
        assert.deepEqual(result.waits.map((w) => w.attempt), [1, 2, 3, 4]);
        const bounds = [[90, 100], [90, 200], [190, 400], [390, 800]];
        result.waits.forEach(({ wait }, i) => {
          const [low, high] = bounds[i]!;
          assert.ok(wait >= low! && wait <= high!, `wait ${i + 1}: ${wait} ms`);
        });

        const errors = result.errors;
        for (
          const [name, status] of [
            ["missingMessage", 400],
            ["badTopic", 400],
            ["reservedEvent", 400],
            ["noToken", 401],
            ["wrongToken", 401],
            ["tooLarge", 413],
            ["unreachable", 0],
          ] as const
        ) {
          const error = errors[name];
          assert(error, `${name} threw`);
          assert.deepEqual(error.name, "HeraldError", name);
          assert.deepEqual(error.isError, true, name);
          assert.deepEqual(error.status, status, name);
          assert(error.message.length > 0, name);
        }
        assert.match(errors.noToken!.message, /token|auth/i);
      },
    );

    await t.step(
      "herald.js embedded in a page of another origin (the README example)",
      async () => {
        const base = hub.url.replace(/\/$/, "");
        const html =
          `<!doctype html><meta charset="utf-8"><title>Elsewhere</title>
<body>${EMBED_EXAMPLE.replaceAll("https://hub.example", base)}</body>`;
        const site = Deno.serve(
          { hostname: "127.0.0.1", port: 0, onListen() {} },
          () =>
            new Response(html, { headers: { "Content-Type": "text/html" } }),
        );
        try {
          const e = await browser!.newPage();
          pages.push(e);
          await e.page.goto(`http://127.0.0.1:${site.addr.port}/`);
          await e.page.locator('body[data-status="open"]').waitFor({
            state: "attached",
          });
          const sent = await hub.publish("Seen on another origin");
          const item = e.page.locator("#feed li", {
            hasText: "Seen on another origin",
          });
          await item.waitFor();
          assert.deepEqual(await item.getAttribute("title"), `id ${sent.id}`);
          // publish() across origins: CORS preflight with Authorization.
          const answer = await e.page.evaluate(
            async ({ base, token }) => {
              const herald = await import(`${base}/static/herald.js`);
              return await herald.publish(base, {
                message: "Sent from another origin",
              }, { token });
            },
            { base, token: TOKEN },
          );
          await e.page.locator("#feed li", {
            hasText: "Sent from another origin",
          }).waitFor();
          assert.deepEqual(
            await waitForText(pageA, "Sent from another origin"),
            [answer.id],
          );
          await e.page.close();
        } finally {
          await site.shutdown();
        }
      },
    );

    await t.step(
      "the page as a customer sees it: docs/screenshot.png",
      async () => {
        await pageA.close();
        const c = await openPage(browser!, hub.url, pages, {
          width: 1280,
          height: 820,
        });
        const shot = c.page;
        await shot.locator("#messages > li.msg-system").first().waitFor();
        for (
          const message of [
            "Welcome to herald: every page on this hub sees this at once.",
            "Deploy 1.4.2 finished in 38 s.\nAll checks passed.",
            "Anyone up for a review of the replay change?",
          ]
        ) {
          await hub.publish(message);
          await waitForText(shot, message);
        }
        // A custom event name: the page shows it once it has sent one.
        await shot.getByLabel("Event").fill("release");
        await shot.getByLabel("Message", { exact: true }).fill(
          "Release notes are up.",
        );
        await shot.getByLabel("Publish token").fill(TOKEN);
        await shot.getByRole("button", { name: "Send", exact: true }).click();
        await waitForText(shot, "Release notes are up.", 1, { type: "custom" });
        await hub.publish("v1.4.2 is live in every region.", {
          event: "release",
        });
        await waitForText(shot, "v1.4.2 is live in every region.", 1, {
          type: "custom",
        });
        await shot.getByLabel("Event").fill("");
        await shot.getByLabel("Message", { exact: true }).fill(
          "Thanks, everyone!",
        );
        await shot.evaluate("window.scrollTo(0, 0)");
        // `deno task screenshot` writes the README's picture; a plain test
        // run writes a temp file, so the tree stays clean.
        const path = Deno.env.get("HERALD_SCREENSHOT") ??
          await Deno.makeTempFile({ suffix: ".png" });
        await shot.screenshot({ path });
        const png = await Deno.readFile(path);
        assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG");
        assert.ok(png.byteLength > 20_000, "a real picture");
        if (!Deno.env.has("HERALD_SCREENSHOT")) await Deno.remove(path);
      },
    );

    for (const page of pages) {
      assert.deepEqual(page.problems, [], "no page errors");
    }
  } finally {
    await browser?.close();
    await server?.stop();
  }
});

Deno.test("browser: the page shows a full hub (503), then rides out a restart", async (t) => {
  let server: TestServer | undefined;
  let browser: TestBrowser | undefined;
  const pages: TestPage[] = [];
  try {
    server = await startServer({ env: { MAX_CLIENTS: "1" } });
    browser = await launchBrowser();
    const port = server.port;
    // The hub's only stream is taken: the browser's shared one is refused.
    const held = await fetch(`${server.url}events`);
    let heldOpen = true;
    let page: Page;

    await t.step(
      "a 503 (which the browser never retries) is shown in words in every tab and retried at a stated time; Try again in one tab skips the wait for all",
      async () => {
        const a = await openPage(browser!, server!.url, pages, {
          status: "reconnecting",
        });
        const b = await openPage(browser!, server!.url, pages, {
          status: "reconnecting",
        });
        for (const tab of [a.page, b.page]) {
          const problem = tab.getByRole("alert");
          await problem.locator("#problem-text").filter({
            hasText: /HTTP 503.*Trying again at/s,
          }).waitFor();
          assert.match(await problem.textContent() ?? "", /busy.*HTTP 503/s);
          assert.match(
            await tab.locator("#status-text").textContent() ?? "",
            /^Hub busy: reconnecting in \d+ s…$/,
          );
        }

        heldOpen = false;
        await held.body!.cancel();
        await waitForClients(server!, 0);
        await b.page.getByRole("button", { name: "Try again" }).click();
        await waitForStatus(b.page, "open");
        await waitForStatus(a.page, "open");
        assert(await b.page.locator("#problem").isHidden());
        assert(await a.page.locator("#problem").isHidden());
        await waitForClients(server!, 1);
        // Page B takes the stream over from page A.
        await a.page.close();
        page = b.page;
        await page.locator('#fact-sharing[data-role="leader"]').waitFor();
        await waitForStatus(page, "open");
        await waitForClients(server!, 1);
      },
    );

    await t.step(
      "stop the server, restart it on the same port: reconnecting, open, no duplicates",
      async () => {
        const before = await server!.publish("before the restart");
        await waitForText(page, "before the restart");
        await server!.stop();
        await waitForStatus(page, "reconnecting");
        assert.match(
          await page.locator("#status-text").textContent() ?? "",
          /^Reconnecting/,
        );

        server = await startServer({ port, env: { MAX_CLIENTS: "1" } });
        await waitForStatus(page, "open");
        const after = await server.publish("after the restart");
        assert.deepEqual(await waitForText(page, "after the restart"), [
          after.id,
        ]);
        assert.deepEqual(await itemIds(page, "before the restart"), [
          before.id,
        ]);
        const ids = await page.evaluate(() =>
          [...document.querySelectorAll(
            "#messages > li[data-id]",
          )]
            .map((li) => li.dataset.id)
        );
        assert.deepEqual(ids.length, new Set(ids).size, "no event shown twice");
        assert.deepEqual(
          await page.locator("#messages li.msg-error").count() >= 1,
          true,
        );
      },
    );

    for (const page of pages) {
      assert.deepEqual(page.problems, [], "no page errors");
    }
    if (heldOpen) await held.body!.cancel();
  } finally {
    await browser?.close();
    await server?.stop();
  }
});

Deno.test("browser: with deno serve --parallel, a cut stream replays what it missed by Last-Event-ID", async () => {
  let server: TestServer | undefined;
  let browser: TestBrowser | undefined;
  let proxy: TcpProxy | undefined;
  const pages: TestPage[] = [];
  try {
    server = await startServer({ parallel: true });
    proxy = new TcpProxy(server.port);
    browser = await launchBrowser();
    const { page } = await openPage(browser, proxy.url, pages);
    const first = await server.publish("before the cut");
    assert.deepEqual(await waitForText(page, "before the cut"), [first.id]);

    proxy.refusing = true;
    proxy.cut();
    await waitForStatus(page, "reconnecting");
    const missed: string[] = [];
    for (let i = 1; i <= 5; i++) {
      missed.push((await server.publish(`missed ${i}`)).id);
    }
    proxy.refusing = false;
    await waitForStatus(page, "open");
    for (let i = 1; i <= 5; i++) {
      assert.deepEqual(await waitForText(page, `missed ${i}`), [missed[i - 1]]);
    }
    const live = await server.publish("live after the replay");
    assert.deepEqual(await waitForText(page, "live after the replay"), [
      live.id,
    ]);
    const order = await page.evaluate(() =>
      [...document.querySelectorAll("#messages > li.msg-chat")]
        .map((li) => li.querySelector(".text")?.textContent)
    );
    assert.deepEqual(order, [
      "before the cut",
      "missed 1",
      "missed 2",
      "missed 3",
      "missed 4",
      "missed 5",
      "live after the replay",
    ]);
    for (const page of pages) {
      assert.deepEqual(page.problems, [], "no page errors");
    }
  } finally {
    await browser?.close();
    await proxy?.close();
    await server?.stop();
  }
});

/** Opens the page at `url` and waits for its connection status. */
async function openPage(
  browser: TestBrowser,
  url: string,
  pages: TestPage[],
  options: { width?: number; height?: number; status?: string } = {},
): Promise<TestPage> {
  const page = await browser.newPage(options);
  pages.push(page);
  await page.page.goto(url, { timeout: WAIT_MS });
  await waitForStatus(page.page, options.status ?? "open");
  return page;
}

/** Waits until the header shows `count` clients. */
async function waitForCount(page: Page, count: string): Promise<void> {
  await page.waitForFunction(
    (count) => document.getElementById("client-count")?.textContent === count,
    count,
    { timeout: WAIT_MS, polling: 50 },
  );
}

interface Received {
  data: { message: string; topic: string; timestamp: unknown };
  id: string | null;
  event: string;
}

interface Failure {
  name: string;
  status: number;
  message: string;
  isError: boolean;
}

/** Runs inside the page: exercises herald.js against the live hub. */
async function runHeraldUnitTests({ token }: { token: string }) {
  const path = "/static/herald.js";
  const herald = await import(path);

  function within<T>(promise: Promise<T>, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Timed out: ${what}`)),
        5000,
      );
      promise.then(resolve, reject).finally(() => clearTimeout(timer));
    });
  }

  // Typed handlers, status, last event id.
  const statuses: string[] = [];
  const scores: Received[] = [];
  const chats: Received[] = [];
  let opened = () => {};
  const openP = new Promise<void>((resolve) => opened = resolve);
  // connect({ ... }) and publish({ ... }, { token }): this hub, no URL.
  const conn = herald.connect({
    topics: ["unit"],
    onStatus(status: string) {
      statuses.push(status);
      if (status === "open") opened();
    },
  });
  conn.on("score", (e: Received) => scores.push(e));
  let chatSeen = () => {};
  const chatP = new Promise<void>((resolve) => chatSeen = resolve);
  conn.on("chat", (e: Received) => {
    chats.push(e);
    chatSeen();
  });
  await within(openP, "open");
  const score = await herald.publish(undefined, {
    message: "42",
    topic: "unit",
    event: "score",
  }, {
    token,
  });
  const chat = await herald.publish({
    message: "after the score",
    topic: "unit",
  }, { token });
  await within(chatP, "chat");
  const lastEventId = conn.lastEventId;
  const topics = conn.topics;
  conn.close();
  const closedByUser = conn.detail.byUser;
  let onError = "no error";
  try {
    conn.on("error", () => {});
  } catch (error) {
    onError = (error as Error).name;
  }
  let badTopic = "no error";
  try {
    herald.connect(undefined, { topics: ["no spaces"] }).close();
  } catch (error) {
    badTopic = (error as Error).name;
  }

  // reset: resume after an id the hub does not have.
  let resetCallbacks = 0;
  let resetHandlers = 0;
  let reason = "";
  let resetSeen = () => {};
  const resetP = new Promise<void>((resolve) => resetSeen = resolve);
  const stale = herald.connect(undefined, {
    topics: ["unit"],
    lastEventId: "1-0",
    onReset(data: { reason: string }) {
      resetCallbacks++;
      reason = data.reason;
      resetSeen();
    },
  });
  stale.on("reset", () => resetHandlers++);
  await within(resetP, "reset");
  stale.close();

  // A refusal that retrying cannot fix (404): closed, with the reason.
  let refusedDone = () => {};
  const refusedP = new Promise<void>((resolve) => refusedDone = resolve);
  let refused = { status: "", httpStatus: 0 as number | null };
  const wrong = herald.connect("/no-such-stream", {
    onStatus(status: string, detail: { httpStatus: number | null }) {
      if (status === "closed" && refused.status === "") {
        refused = { status, httpStatus: detail.httpStatus };
        refusedDone();
      }
    },
  });
  await within(refusedP, "closed on a 404");
  wrong.close();

  // Refusals retried without asking why: each wait longer than the last.
  const waits: Array<{ attempt: number; wait: number }> = [];
  let backedOff = () => {};
  const backoffP = new Promise<void>((resolve) => backedOff = resolve);
  const unreachable = herald.connect("/no-such-stream", {
    retryMs: 100,
    diagnose: false,
    onStatus(
      status: string,
      detail: { attempt: number; reconnectAt: number | null },
    ) {
      if (status !== "reconnecting" || detail.reconnectAt === null) return;
      waits.push({
        attempt: detail.attempt,
        wait: detail.reconnectAt - Date.now(),
      });
      if (waits.length >= 4) backedOff();
    },
  });
  await within(backoffP, "four attempts");
  unreachable.close();

  // publish() errors.
  async function failure(...args: unknown[]): Promise<Failure | null> {
    try {
      await herald.publish(...args);
      return null;
    } catch (error) {
      const e = error as Error & { status: number };
      return {
        name: e.name,
        status: e.status,
        message: e.message,
        isError: e instanceof Error,
      };
    }
  }
  const errors = {
    missingMessage: await failure(undefined, { topic: "unit" }, { token }),
    badTopic: await failure(undefined, { message: "x", topic: "no spaces" }, {
      token,
    }),
    reservedEvent: await failure(undefined, { message: "x", event: "system" }, {
      token,
    }),
    noToken: await failure(undefined, { message: "x" }),
    wrongToken: await failure(undefined, { message: "x" }, { token: "wrong" }),
    tooLarge: await failure(undefined, { message: "x".repeat(70_000) }, {
      token,
    }),
    unreachable: await failure("http://127.0.0.1:9/", { message: "x" }, {
      token,
    }),
  };
  return {
    typed: {
      scores,
      chats,
      scoreId: score.id as string,
      chatId: chat.id as string,
      lastEventId,
      statuses,
      closedByUser,
      topics,
    },
    onError,
    badTopic,
    reset: { callbacks: resetCallbacks, handlers: resetHandlers, reason },
    refused,
    waits,
    errors,
  };
}
