/**
 * `connect(url, { shared: true })` in real Chromium: the tabs of one origin
 * in one browser profile share one stream (Web Locks pick the tab that holds
 * it, BroadcastChannel relays its events), over HTTP/1.1.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import {
  itemIds,
  launchBrowser,
  type PageDocument,
  startServer,
  type TestBrowser,
  type TestPage,
  type TestServer,
  WAIT_MS,
  waitForClients,
  waitForStatus,
  waitForText,
} from "./_browser.ts";

declare const document: PageDocument;

Deno.test("shared: tabs of one origin share one stream, relayed in order, once each", async (t) => {
  let server: TestServer | undefined;
  let browser: TestBrowser | undefined;
  const pages: TestPage[] = [];
  try {
    server = await startServer();
    browser = await launchBrowser();
    const hub = server;
    const tabs: TestPage[] = [];

    await t.step(
      "ten tabs over HTTP/1.1: every tab gets every event, /stats counts one stream",
      async () => {
        tabs.push(await openTab(browser!, hub.url, pages));
        tabs.push(
          ...await Promise.all(
            Array.from({ length: 9 }, () => openTab(browser!, hub.url, pages)),
          ),
        );
        await waitForClients(hub, 1);
        const sent = [];
        for (let i = 1; i <= 3; i++) sent.push(await hub.publish(`all ${i}`));
        for (const { page } of tabs) {
          for (let i = 1; i <= 3; i++) {
            assert.deepEqual(await waitForText(page, `all ${i}`), [
              sent[i - 1]!.id,
            ]);
          }
        }
        for (const { page } of tabs) {
          assert.deepEqual(
            await page.locator("#messages > li.msg-system").count(),
            1,
            "one welcome in every tab",
          );
        }
        const leaders = await roles(tabs);
        assert.deepEqual(leaders.filter((r) => r.role === "leader").length, 1);
        const leader = leaders.find((r) => r.role === "leader")!.tab;
        for (const { role, leader: held, text } of leaders) {
          if (role === "follower") {
            assert.deepEqual(held, leader);
            assert.match(text, /^Tab [0-9a-z]+ · 10 tabs share it$/);
          }
        }
        await waitForClients(hub, 1);
      },
    );

    await t.step(
      "close the leader while 100 events are published: every other tab shows all 100, once each, in order",
      async () => {
        // Keep five tabs: fewer pages to poll, the same handover.
        for (const extra of tabs.splice(5)) await extra.page.close();
        const leaderIndex = (await roles(tabs)).findIndex((r) =>
          r.role === "leader"
        );
        const [leader] = tabs.splice(leaderIndex, 1);
        const ids: string[] = [];
        for (let i = 1; i <= 100; i++) {
          ids.push((await hub.publish(`burst ${i}`)).id);
          if (i === 30) await leader!.page.close();
        }
        const expected = Array.from(
          { length: 100 },
          (_, i) => `burst ${i + 1}`,
        );
        for (const { page } of tabs) {
          await waitForText(page, "burst 100");
          assert.deepEqual(await texts(page, "burst "), expected);
          assert.deepEqual(await itemIds(page, "burst 50"), [ids[49]]);
        }
        const after = await roles(tabs);
        assert.deepEqual(after.filter((r) => r.role === "leader").length, 1);
        await waitForClients(hub, 1);
      },
    );

    await t.step(
      "crash the leader (no goodbye) while 50 events are published: the others show all 50, once each, in order",
      async () => {
        const leaderIndex = (await roles(tabs)).findIndex((r) =>
          r.role === "leader"
        );
        const [leader] = tabs.splice(leaderIndex, 1);
        const cdp = await browser!.context.newCDPSession(leader!.page);
        for (let i = 1; i <= 50; i++) {
          await hub.publish(`crash ${i}`);
          if (i === 20) {
            // Page.crash never answers: the page is gone.
            const crashed = leader!.page.waitForEvent("crash");
            void cdp.send("Page.crash").catch(() => {});
            await crashed;
          }
        }
        const expected = Array.from({ length: 50 }, (_, i) => `crash ${i + 1}`);
        for (const { page } of tabs) {
          await waitForText(page, "crash 50");
          assert.deepEqual(await texts(page, "crash "), expected);
        }
        await leader!.page.close();
        pages.splice(pages.indexOf(leader!), 1);
        assert.deepEqual(
          (await roles(tabs)).filter((r) => r.role === "leader").length,
          1,
        );
        await waitForClients(hub, 1);
      },
    );

    await t.step(
      "two tabs with different topics: each sees only its own; still one stream",
      async () => {
        const news = await openTab(browser!, `${hub.url}?topic=news`, pages);
        const sport = await openTab(browser!, `${hub.url}?topic=sport`, pages);
        const n = await hub.publish("news only", { topic: "news" });
        const s = await hub.publish("sport only", { topic: "sport" });
        const c = await hub.publish("chat only");
        assert.deepEqual(await waitForText(news.page, "news only"), [n.id]);
        assert.deepEqual(await waitForText(sport.page, "sport only"), [s.id]);
        assert.deepEqual(await waitForText(tabs[0]!.page, "chat only"), [c.id]);
        // A later event reached each tab: any stray one would have come first.
        const sync = await hub.publish("sync", { topic: "news" });
        await hub.publish("sync", { topic: "sport" });
        assert.deepEqual(await waitForText(news.page, "sync"), [sync.id]);
        await waitForText(sport.page, "sync");
        assert.deepEqual(await itemIds(news.page, "sport only"), []);
        assert.deepEqual(await itemIds(news.page, "chat only"), []);
        assert.deepEqual(await itemIds(sport.page, "news only"), []);
        assert.deepEqual(await itemIds(tabs[0]!.page, "news only"), []);
        await waitForClients(hub, 1);
        await news.page.close();
        await sport.page.close();
      },
    );

    await t.step(
      "onReset and status work as unshared: a second shared connection resuming from an unknown id gets the reset, no other tab does",
      async () => {
        const result = await tabs[0]!.page.evaluate(resumeUnknownId);
        assert.deepEqual(result.statuses, ["connecting", "open"]);
        assert.deepEqual(result.reason, "history-exceeded");
        assert.deepEqual(result.resetHandlers, 1);
        assert.deepEqual(result.role, "follower");
        assert.deepEqual(result.lastEventId, result.sentId);
        for (const { page } of tabs) {
          assert.deepEqual(await page.locator("li.msg-reset").count(), 0);
        }
        await waitForClients(hub, 1);
      },
    );

    await t.step(
      "a tab without Web Locks keeps a stream of its own and still gets every event",
      async () => {
        const tab = await browser!.newPage();
        pages.push(tab);
        await tab.page.addInitScript(() => {
          Object.defineProperty(Navigator.prototype, "locks", {
            get: () => undefined,
          });
        });
        await tab.page.goto(hub.url, { timeout: WAIT_MS });
        await waitForStatus(tab.page, "open");
        await tab.page.locator('#fact-sharing[data-role="alone"]').waitFor();
        const sent = await hub.publish("to the lonely tab too");
        assert.deepEqual(await waitForText(tab.page, "to the lonely tab too"), [
          sent.id,
        ]);
        assert.deepEqual(
          await waitForText(tabs[0]!.page, "to the lonely tab too"),
          [sent.id],
        );
        await waitForClients(hub, 2);
        await tab.page.close();
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

/** Opens the page at `url` in the shared browser and waits until it is open. */
async function openTab(
  browser: TestBrowser,
  url: string,
  pages: TestPage[],
): Promise<TestPage> {
  const tab = await browser.newPage();
  pages.push(tab);
  await tab.page.goto(url, { timeout: WAIT_MS });
  await waitForStatus(tab.page, "open");
  await tab.page.locator(
    '#fact-sharing:is([data-role="leader"], [data-role="follower"]:not([data-leader=""]))',
  )
    .waitFor();
  return tab;
}

/** What each tab says about who holds the stream. */
async function roles(
  tabs: TestPage[],
): Promise<Array<{ role: string; tab: string; leader: string; text: string }>> {
  return await Promise.all(tabs.map(({ page }) =>
    page.evaluate(() => {
      const el = document.getElementById("fact-sharing")!;
      return {
        role: el.dataset.role ?? "",
        tab: el.dataset.tab ?? "",
        leader: el.dataset.leader ?? "",
        text: el.textContent ?? "",
      };
    })
  ));
}

/** The texts of the page's chat items that start with `prefix`, in list order. */
async function texts(page: Page, prefix: string): Promise<string[]> {
  return await page.evaluate(
    (prefix) =>
      [...document.querySelectorAll("#messages > li.msg-chat")]
        .map((li) => li.querySelector(".text")?.textContent ?? "")
        .filter((text) => text.startsWith(prefix)),
    prefix,
  );
}

/** Runs in a tab: a second shared connection, on its own topic, from an old id. */
async function resumeUnknownId() {
  const herald = await import("/static/herald.js");
  const statuses: string[] = [];
  let resetHandlers = 0;
  let reason = "";
  let seen = () => {};
  const done = new Promise<void>((resolve) => seen = resolve);
  const conn = herald.connect({
    topics: ["resets"],
    shared: true,
    lastEventId: "1-0",
    onStatus(status: string) {
      statuses.push(status);
    },
    onReset(data: { reason: string }) {
      reason = data.reason;
    },
  });
  conn.on("reset", () => resetHandlers++);
  conn.on("chat", () => seen());
  const timer = setTimeout(() => seen(), 5000);
  const sent = await herald.publish({ message: "after", topic: "resets" });
  await done;
  clearTimeout(timer);
  const result = {
    statuses: [...statuses],
    reason,
    resetHandlers,
    role: conn.sharing.role,
    lastEventId: conn.lastEventId,
    sentId: sent.id as string,
  };
  conn.close();
  return result;
}
