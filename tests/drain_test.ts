/**
 * Drain, on a real `deno serve` process: on SIGTERM or SIGINT (Deno Deploy
 * evicts with SIGINT, then kills 5 s later) every stream gets a last
 * `event: system` carrying the drain's `retry:` hint and a clean end, so
 * browsers reconnect once a restarted (or another) process listens and
 * replay by id; the process exits well before the deadline.
 */
import assert from "node:assert/strict";
import { startHerald } from "./_process.ts";
import { connect, readChunk, writeAll } from "./_raw_http.ts";
import { eventually, startServer } from "./_server.ts";
import { SseClient } from "./_sse_client.ts";

const TOKEN = "drain-t0ken-5e1f";
const DEADLINE_MS = 5000;

async function stats(url: string): Promise<{ localClients: number }> {
  return await (await fetch(`${url}/stats`)).json();
}

/**
 * Reads events until the stream ends; true when it ended cleanly in time.
 * (Not `SseClient.ended()`: it spins when an event is already buffered.)
 */
async function endsCleanly(
  client: SseClient,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  try {
    while (true) await client.next(Math.max(1, deadline - Date.now()));
  } catch (error) {
    return error instanceof Error && error.message === "Stream ended";
  }
}

/** Waits for the process to exit by itself; null when it has not within `timeoutMs`. */
async function exitWithin(
  child: Deno.ChildProcess,
  timeoutMs: number,
): Promise<Deno.CommandStatus | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), timeoutMs);
  });
  try {
    return await Promise.race([child.status, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads a raw socket to its end; returns everything as text. */
async function readToEnd(conn: Deno.Conn, timeoutMs: number): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const chunk = await readChunk(conn, Math.max(1, deadline - Date.now()));
    if (chunk === null) return text + decoder.decode();
    text += decoder.decode(chunk, { stream: true });
  }
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`${signal} ends every stream with the drain's retry inside a last event and a clean end; the process exits in time`, async () => {
    await using herald = await startHerald({
      env: { PUBLISH_TOKEN: TOKEN, RETRY_MS: "5000" },
    });
    const clients = await Promise.all(
      ["chat", "chat", "news"].map((topic) =>
        SseClient.open(`${herald.url}/events?topic=${topic}`)
      ),
    );
    const raw = await connect(herald.port);
    try {
      for (const client of clients) await client.next();
      await writeAll(raw, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
      await eventually(async () =>
        (await stats(herald.url)).localClients === 4
      );
      const published = await fetch(`${herald.url}/message`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${TOKEN}`,
        },
        body: JSON.stringify({ message: "before the drain" }),
      });
      assert.equal(published.status, 202);
      await published.body?.cancel();
      await clients[0]!.collect(1);

      const started = performance.now();
      herald.child.kill(signal);

      // Each stream: the last thing is the drain's retry, then a clean end.
      for (const client of clients) {
        assert.ok(
          await endsCleanly(client, DEADLINE_MS),
          "the stream did not end cleanly",
        );
        assert.equal(client.retries.length, 2, String(client.retries));
        assert.equal(client.retries[0], 5000);
        const last = client.retries[1]!;
        assert.ok(last >= 4000 && last <= 6000, `final retry ${last} ms`);
      }
      // On the wire: the hint inside a last `event: system` (a lone `retry:`
      // block is an empty message to some clients), then the terminator.
      const wire = await readToEnd(raw, DEADLINE_MS);
      assert.match(
        wire,
        /\r\nretry: \d{4}\nevent: system\ndata: \{[^\n]*"reason":"drain"[^\n]*\}\n\n\r\n0\r\n\r\n$/,
      );
      assert.doesNotMatch(wire, /(^|\n)retry: \d+\n\n/, "a lone retry block");

      const status = await exitWithin(herald.child, DEADLINE_MS);
      const took = performance.now() - started;
      assert.ok(status !== null, "the process did not exit within 5 s");
      assert.ok(
        took < DEADLINE_MS - 1000,
        `exited after ${took.toFixed(0)} ms`,
      );
      assert.equal(status.code, 0, herald.output());
      await herald.stop();
      assert.match(herald.output(), /Draining/);
      assert.ok(!herald.output().includes(TOKEN), "the token was printed");
    } finally {
      raw.close();
      for (const client of clients) await client.close();
    }
  });
}

Deno.test("SIGTERM exits before the deadline even when a reader never reads its last bytes", async () => {
  // A queue large enough that the dead reader is never cut off: the drain
  // cannot flush it, so only the shutdown deadline can end the process.
  await using herald = await startHerald({
    env: { MAX_QUEUED_BYTES: String(64 * 1024 * 1024), HISTORY_SIZE: "0" },
  });
  const stuck = await connect(herald.port);
  try {
    await writeAll(stuck, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    await eventually(async () => (await stats(herald.url)).localClients === 1);
    const message = "x".repeat(60_000);
    for (let i = 0; i < 256; i++) {
      const response = await fetch(`${herald.url}/message`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ message }),
      });
      await response.body?.cancel();
    }
    assert.equal((await stats(herald.url)).localClients, 1);
    const started = performance.now();
    herald.child.kill("SIGTERM");
    // No new stream is accepted while it drains.
    await eventually(
      async () => {
        try {
          const response = await fetch(`${herald.url}/events`);
          await response.body?.cancel();
          return response.status === 503;
        } catch {
          return true; // refused: no longer listening
        }
      },
      DEADLINE_MS,
      "new streams to be refused",
    );
    const status = await exitWithin(herald.child, DEADLINE_MS);
    const took = performance.now() - started;
    assert.ok(status !== null, "the process did not exit within 5 s");
    assert.ok(took < DEADLINE_MS, `exited after ${took.toFixed(0)} ms`);
    await herald.stop();
  } finally {
    stuck.close();
  }
});

Deno.test("SIGTERM under start:parallel drains the streams of every isolate", async () => {
  await using herald = await startHerald({ jobs: 2 });
  const clients: SseClient[] = [];
  try {
    for (let i = 0; i < 8; i++) {
      const client = await SseClient.open(`${herald.url}/events`);
      await client.next();
      clients.push(client);
    }
    const started = performance.now();
    herald.child.kill("SIGTERM");
    for (const client of clients) {
      assert.ok(await endsCleanly(client, DEADLINE_MS), "a stream did not end");
      const last = client.retries.at(-1)!;
      assert.ok(last >= 4000 && last <= 6000, `final retry ${last} ms`);
    }
    const status = await exitWithin(herald.child, DEADLINE_MS);
    assert.ok(status !== null, "the process did not exit within 5 s");
    assert.equal(status.code, 0, herald.output());
    const took = performance.now() - started;
    assert.ok(took < DEADLINE_MS - 1000, `exited after ${took.toFixed(0)} ms`);
    assert.equal(herald.output().match(/Draining/g)?.length, 2);
    await herald.stop();
  } finally {
    for (const client of clients) await client.close();
  }
});

Deno.test("GET /events while the app drains answers 503 with Retry-After and {error}, not a stream", async () => {
  // `deno serve` stops listening on the first signal by itself, so this is
  // what a request that still reaches a draining app gets (and what nginx's
  // `proxy_next_upstream http_503` moves to the next instance).
  await using server = await startServer();
  const open = await SseClient.open(`${server.url}/events`);
  try {
    await open.next();
    server.app.drain();
    assert.ok(await endsCleanly(open, DEADLINE_MS), "the stream did not end");
    const response = await fetch(`${server.url}/events`);
    assert.equal(response.status, 503);
    assert.match(response.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
    assert.match((await response.json()).error, /^Cannot subscribe: /);
  } finally {
    await open.close();
  }
});
