/**
 * A restart behind a reverse proxy, over real processes: herald (Redis
 * engine, so the restarted process can replay) behind a real nginx with one
 * upstream, the case where a browser that comes back too early gets a 502
 * and native `EventSource` gives up for good. Five clients are attached
 * through nginx: herald's page in Chromium (herald.js), Deno's built-in
 * `EventSource`, npm `eventsource`, `@microsoft/fetch-event-source` and
 * `extended-eventsource`. herald is stopped with SIGTERM (the drain) and a
 * new process starts on the same port; every client must resume with its
 * last id, miss nothing published across the restart, see no duplicate and
 * no `reset`, and no client may ever get an empty message (a lone `retry:`
 * block is one for the last two). Then the README's two-instance setup, and
 * herald's page meeting nginx's 502s while herald is down.
 */
import assert from "node:assert/strict";
import { fetchEventSource } from "@microsoft/fetch-event-source";
import { EventSource as NpmEventSource } from "eventsource";
import { EventSource as ExtendedEventSource } from "extended-eventsource";
import {
  itemIds,
  launchBrowser,
  type TestBrowser,
  WAIT_MS,
  waitForStatus,
  waitForText,
} from "./_browser.ts";
import { startNginx } from "./_nginx.ts";
import { freePort, type HeraldProcess, startHerald } from "./_process.ts";
import { startRedis } from "./_redis.ts";
import { eventually } from "./_server.ts";

/** What one client saw. */
interface Seen {
  readonly name: string;
  /** Every dispatched event, in order: [event name, id, data]. */
  readonly events: Array<[string, string, string]>;
  /** Whether the client has given up (an `EventSource` in CLOSED). */
  closed(): boolean;
  close(): void;
}

const NAMES = ["system", "chat", "reset", "message"] as const;

/** An `EventSource`-like client (native, npm `eventsource`, extended). */
function attach(
  name: string,
  source: EventTarget & { readyState: number; close(): void },
): Seen {
  const events: Array<[string, string, string]> = [];
  for (const type of NAMES) {
    source.addEventListener(type, (e) => {
      const m = e as MessageEvent;
      events.push([type, m.lastEventId ?? "", String(m.data)]);
    });
  }
  return {
    name,
    events,
    closed: () => source.readyState === 2,
    close: () => source.close(),
  };
}

/**
 * fetch-event-source as its README says to keep it reconnecting: its
 * `onclose` treats a clean end (the drain) as final unless it throws, and
 * `onerror` returning nothing retries after the stream's `retry:`.
 */
function attachFetchEventSource(url: string): Seen & { done: Promise<void> } {
  const events: Array<[string, string, string]> = [];
  const controller = new AbortController();
  const done = fetchEventSource(url, {
    signal: controller.signal,
    openWhenHidden: true,
    fetch: (input, init) => fetch(input, init),
    onmessage(message) {
      events.push([message.event || "message", message.id, message.data]);
    },
    onclose() {
      throw new Error("The hub ended the stream: reconnect");
    },
    onerror() {
      // Retry after the hub's `retry:`, whatever the error.
    },
  });
  return {
    name: "@microsoft/fetch-event-source",
    events,
    done,
    closed: () => controller.signal.aborted,
    close: () => controller.abort(),
  };
}

async function publish(url: string, message: string): Promise<string> {
  const response = await fetch(`${url}/message`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message }),
  });
  const body = await response.json();
  assert.equal(response.status, 202, JSON.stringify(body));
  return body.id;
}

function chatIds(seen: Seen): string[] {
  return seen.events.filter(([event]) => event === "chat").map(([, id]) => id);
}

/**
 * fetch-event-source reaches for `window.setTimeout` and `document`
 * (visibility), which Deno does not have; the browser globals it needs.
 */
function browserGlobals(): () => void {
  const g = globalThis as Record<string, unknown>;
  const had = { window: "window" in g, document: "document" in g };
  if (!had.window) g.window = globalThis;
  if (!had.document) {
    g.document = {
      hidden: false,
      addEventListener() {},
      removeEventListener() {},
    };
  }
  return () => {
    if (!had.window) delete g.window;
    if (!had.document) delete g.document;
  };
}

Deno.test("a restart of herald behind nginx: every client resumes with its last id, misses nothing, and never gets an empty message", async () => {
  const restoreGlobals = browserGlobals();
  await using redis = await startRedis();
  const port = freePort();
  const env = { REDIS_URL: redis.url };
  let herald: HeraldProcess = await startHerald({ port, env });
  await using proxy = await startNginx([port]);
  let browser: TestBrowser | undefined;
  const clients: Seen[] = [];
  let fes: (Seen & { done: Promise<void> }) | undefined;
  try {
    const events = `${proxy.url}/events`;
    clients.push(
      attach("Deno EventSource", new EventSource(events)),
      attach("npm eventsource", new NpmEventSource(events)),
      attach(
        "extended-eventsource",
        new ExtendedEventSource(events, { disableLogger: true }),
      ),
    );
    fes = attachFetchEventSource(events);
    clients.push(fes);
    browser = await launchBrowser();
    const { page, problems } = await browser.newPage();
    await page.goto(`${proxy.url}/`, { timeout: WAIT_MS });
    await waitForStatus(page, "open");
    await eventually(
      () => clients.every((c) => c.events.some(([e]) => e === "system")),
      WAIT_MS,
      "every client's welcome",
    );

    const before: string[] = [];
    for (let i = 1; i <= 3; i++) {
      before.push(await publish(herald.url, `before ${i}`));
    }
    await eventually(
      () => clients.every((c) => chatIds(c).length === 3),
      WAIT_MS,
      "the events before the restart",
    );
    assert.deepEqual(await waitForText(page, "before 3"), [before[2]]);

    // The restart: drain, exit, a new process on the same port at once (a
    // supervisor). Events published before the clients come back reach them
    // only by replay after their last id.
    await herald.stop("SIGTERM");
    herald = await startHerald({ port, env });
    const after: string[] = [];
    for (let i = 1; i <= 3; i++) {
      after.push(await publish(herald.url, `after ${i}`));
    }
    const expected = [...before, ...after];
    await eventually(
      () => clients.every((c) => chatIds(c).length >= 6),
      WAIT_MS,
      "the events published across the restart",
    ).catch((error) => {
      const short = clients.filter((c) => chatIds(c).length < 6)
        .map((c) => `${c.name}${c.closed() ? " (gave up)" : ""}`);
      throw new Error(`${error.message}: ${short.join(", ")}`);
    });
    for (const client of clients) {
      assert.deepEqual(chatIds(client), expected, client.name);
      assert.ok(!client.closed(), `${client.name} gave up`);
      assert.deepEqual(
        client.events.filter(([event]) => event === "reset"),
        [],
        `${client.name} got a reset`,
      );
      const empty = client.events.filter(([, , data]) => data === "");
      assert.deepEqual(empty, [], `${client.name} got an empty message`);
      // The welcome on open, the drain's last event, the new welcome.
      const systems = client.events.filter(([event]) => event === "system")
        .map(([, , data]) => JSON.parse(data));
      assert.deepEqual(
        systems.map((s) => s.reason ?? "welcome"),
        ["welcome", "drain", "welcome"],
        client.name,
      );
    }
    for (let i = 1; i <= 3; i++) {
      assert.deepEqual(await waitForText(page, `after ${i}`), [after[i - 1]]);
    }
    assert.deepEqual(await itemIds(page, "before 1"), [before[0]]);
    await waitForStatus(page, "open");
    assert.deepEqual(problems, [], "no page errors");
  } finally {
    for (const client of clients) client.close();
    await fes?.done;
    await browser?.close();
    await herald.stop("SIGKILL");
    restoreGlobals();
  }
});

Deno.test("two instances behind nginx with proxy_next_upstream: stopping one moves its streams to the other with nothing missed", async () => {
  await using redis = await startRedis();
  const env = { REDIS_URL: redis.url };
  const a = await startHerald({ env });
  const b = await startHerald({ env });
  await using proxy = await startNginx([a.port, b.port]);
  const clients: Seen[] = [];
  try {
    const events = `${proxy.url}/events`;
    // Round robin: some streams land on each instance.
    for (let i = 0; i < 2; i++) {
      clients.push(
        attach(`Deno EventSource ${i}`, new EventSource(events)),
        attach(`npm eventsource ${i}`, new NpmEventSource(events)),
      );
    }
    await eventually(
      () => clients.every((c) => c.events.some(([e]) => e === "system")),
      WAIT_MS,
      "every client's welcome",
    );
    const isolates = new Set(
      clients.map((c) => JSON.parse(c.events[0]![2]).isolate),
    );
    assert.equal(isolates.size, 2, "streams on both instances");
    const before = await publish(a.url, "before");
    await eventually(
      () => clients.every((c) => chatIds(c).length === 1),
      WAIT_MS,
      "the event before the stop",
    );
    const aName = (await (await fetch(`${a.url}/stats`)).json()).isolate;
    await a.stop("SIGTERM");
    // Published while a's streams wait out their retry: they get it by replay.
    const during = await publish(b.url, "during");
    await eventually(
      () => clients.every((c) => chatIds(c).length >= 2),
      WAIT_MS,
      "the event published during the stop",
    );
    const after = await publish(b.url, "after");
    await eventually(
      () => clients.every((c) => chatIds(c).length >= 3),
      WAIT_MS,
      "the event published after",
    );
    const moved = clients.filter((c) =>
      JSON.parse(c.events[0]![2]).isolate === aName
    );
    assert.ok(moved.length > 0, "no stream was on the stopped instance");
    for (const client of moved) {
      const systems = client.events.filter(([event]) => event === "system")
        .map(([, , data]) => JSON.parse(data));
      assert.deepEqual(
        systems.map((s) => s.reason ?? s.isolate),
        [aName, "drain", [...isolates].find((i) => i !== aName)],
        client.name,
      );
    }
    for (const client of clients) {
      assert.deepEqual(chatIds(client), [before, during, after], client.name);
      assert.ok(!client.closed(), `${client.name} gave up`);
      assert.deepEqual(
        client.events.filter(([event]) => event === "reset"),
        [],
        `${client.name} got a reset`,
      );
    }
  } finally {
    for (const client of clients) client.close();
    await a.stop("SIGKILL");
    await b.stop("SIGKILL");
  }
});

Deno.test("herald's page behind nginx rides out 502s while herald is down, says so, and resumes by id", async () => {
  await using redis = await startRedis();
  const port = freePort();
  // A short welcome hint, so the page meets nginx's 502 at once.
  const env = { REDIS_URL: redis.url, RETRY_MS: "200" };
  let herald: HeraldProcess = await startHerald({ port, env });
  await using proxy = await startNginx([port]);
  let browser: TestBrowser | undefined;
  try {
    browser = await launchBrowser();
    const { page, problems } = await browser.newPage();
    await page.goto(`${proxy.url}/`, { timeout: WAIT_MS });
    await waitForStatus(page, "open");
    const before = await publish(herald.url, "before the crash");
    assert.deepEqual(await waitForText(page, "before the crash"), [before]);

    // No drain: the process dies, nginx ends the stream, and every attempt
    // the page makes meets a 502 from nginx.
    await herald.stop("SIGKILL");
    await page.locator("#problem-text").filter({
      hasText: /HTTP 502.*Trying again at/s,
    }).waitFor({ timeout: WAIT_MS });
    await waitForStatus(page, "reconnecting");
    assert.match(
      await page.locator("#status-text").textContent() ?? "",
      /^Reconnecting/,
    );

    herald = await startHerald({ port, env });
    const missed = await publish(herald.url, "published while the page waited");
    await waitForStatus(page, "open");
    assert.deepEqual(
      await waitForText(page, "published while the page waited"),
      [
        missed,
      ],
    );
    assert.ok(await page.locator("#problem").isHidden(), "the problem is gone");
    assert.deepEqual(await itemIds(page, "before the crash"), [before]);
    assert.deepEqual(problems, [], "no page errors");
  } finally {
    await browser?.close();
    await herald.stop("SIGKILL");
  }
});
