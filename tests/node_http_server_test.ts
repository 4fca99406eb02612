/**
 * herald's unchanged handler served through `node:http`
 * (adapters/node_http_server.ts), over real loopback sockets: streams,
 * replay, the POST statuses, CORS, disconnects, dead readers, and
 * `HTTP_SERVER=node deno task start`.
 */
import assert from "node:assert/strict";
import { createDenoAssetReader } from "../adapters/deno_assets.ts";
import { serveWithNodeHttp } from "../adapters/node_http_server.ts";
import { LocalBus } from "../lib/bus.ts";
import { compareIdText } from "../lib/event_id.ts";
import { loadConfig } from "../lib/config.ts";
import { type App, createApp } from "../routes/app.ts";
import { createMemoryEngine } from "../engines/memory/engine.ts";
import { freePort, spawnTask } from "./_process.ts";
import {
  connect,
  postUnendingChunkedBody,
  rawRequest,
  readChunk,
  writeAll,
} from "./_raw_http.ts";
import { eventually } from "./_server.ts";
import { dataOf, SseClient } from "./_sse_client.ts";

interface NodeServer {
  readonly url: string;
  readonly port: number;
  readonly app: App;
  [Symbol.asyncDispose](): Promise<void>;
}

/** herald with a LocalBus behind the node:http adapter on 127.0.0.1, port 0. */
function startNodeServer(
  env: Record<string, string> = {},
  keepAliveTimeoutMs?: number,
): Promise<NodeServer> {
  const config = loadConfig({
    UPDATE_INTERVAL_MS: "0",
    HEARTBEAT_MS: "0",
    ...env,
  });
  const app = createApp(config, {
    engine: createMemoryEngine({ bus: new LocalBus() }),
    readAsset: createDenoAssetReader(new URL("../static/", import.meta.url)),
  });
  return new Promise((resolve) => {
    const server = serveWithNodeHttp(app.fetch, {
      port: 0,
      hostname: "127.0.0.1",
      ...(keepAliveTimeoutMs === undefined ? {} : { keepAliveTimeoutMs }),
      onListen({ port }) {
        resolve({
          url: `http://127.0.0.1:${port}`,
          port,
          app,
          async [Symbol.asyncDispose]() {
            await app.close();
            await server.shutdown();
          },
        });
      },
    });
  });
}

async function publish(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${url}/message`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

interface Stats {
  localClients: number;
  dropped: number;
}

async function stats(url: string): Promise<Stats> {
  return await (await fetch(`${url}/stats`)).json();
}

Deno.test("serveWithNodeHttp() serves an event stream: retry, welcome, then a published chat with its id", async () => {
  await using server = await startNodeServer({ RETRY_MS: "2500" });
  await using client = await SseClient.open(`${server.url}/events`, {
    headers: { origin: "https://example.com" },
  });
  const headers = client.response.headers;
  assert.equal(headers.get("content-type"), "text/event-stream; charset=utf-8");
  assert.equal(headers.get("access-control-allow-origin"), "*");
  assert.equal(headers.get("content-encoding"), null);
  const welcome = await client.next();
  assert.equal(welcome.event, "system");
  assert.deepEqual(client.retries, [2500]);
  const { status, json } = await publish(server.url, { message: "hello" });
  assert.equal(status, 202);
  const chat = await client.next();
  assert.equal(chat.event, "chat");
  assert.equal(chat.id, json.id);
  assert.equal(dataOf(chat).message, "hello");
});

Deno.test("serveWithNodeHttp() replays after Last-Event-ID", async () => {
  await using server = await startNodeServer();
  const ids: unknown[] = [];
  for (const message of ["one", "two", "three"]) {
    ids.push((await publish(server.url, { message })).json.id);
  }
  await using client = await SseClient.open(`${server.url}/events`, {
    headers: { "last-event-id": String(ids[0]) },
  });
  const events = await client.collect(2);
  assert.deepEqual(events.map((event) => event.id), ids.slice(1));
  assert.deepEqual(events.map((event) => dataOf(event).message), [
    "two",
    "three",
  ]);
});

Deno.test("serveWithNodeHttp() passes POST statuses through: 202, 400, 415, 404, 405 with Allow", async () => {
  await using server = await startNodeServer();
  assert.equal((await publish(server.url, { message: "ok" })).status, 202);
  assert.equal((await publish(server.url, "{not json")).status, 400);
  const unsupported = await publish(server.url, { message: "x" }, {
    "content-type": "text/plain",
  });
  assert.equal(unsupported.status, 415);
  assert.equal(typeof unsupported.json.error, "string");
  const missing = await fetch(`${server.url}/nowhere`);
  assert.equal(missing.status, 404);
  assert.equal(typeof (await missing.json()).error, "string");
  const wrong = await fetch(`${server.url}/message`, { method: "PUT" });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "POST, OPTIONS");
  await wrong.body?.cancel();
  const head = await fetch(`${server.url}/stats`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
});

Deno.test("serveWithNodeHttp() answers 413 to a chunked body over the limit before the body ends", async () => {
  await using server = await startNodeServer({ MAX_MESSAGE_BYTES: "1024" });
  // The body never ends (no `0\r\n\r\n`), yet the answer comes now.
  const response = await postUnendingChunkedBody(server.port, 2);
  assert.ok(response !== null, "the server closed without answering");
  assert.equal(response.status, 413);
  assert.match(JSON.parse(response.body).error, /larger than 1024 bytes/);
  assert.equal(server.app.hub.stats().events, 0);
});

Deno.test("serveWithNodeHttp() answers 500 JSON when the handler throws, and 400 to a bad Host", async () => {
  const server = serveWithNodeHttp(() => {
    throw new Error("boom");
  }, { port: 0, hostname: "127.0.0.1" });
  await eventually(() => server.port !== 0, 2000, "listening");
  try {
    const response = await fetch(`http://127.0.0.1:${server.port}/`);
    assert.equal(response.status, 500);
    assert.deepEqual(await response.json(), { error: "boom" });
    const bad = await rawRequest(
      server.port,
      "GET / HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n",
    );
    assert.equal(bad.status, 400);
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveWithNodeHttp() tears the subscriber down after 200 abrupt disconnects", async () => {
  await using server = await startNodeServer();
  const conns: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      const conn = await connect(server.port);
      conns.push(conn);
      await writeAll(conn, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    for (const conn of conns) {
      const chunk = await readChunk(conn, 5000);
      assert.ok(chunk !== null);
    }
    assert.equal((await stats(server.url)).localClients, 200);
  } finally {
    for (const conn of conns) conn.close();
  }
  await eventually(
    async () => (await stats(server.url)).localClients === 0,
    5000,
    "localClients 0",
  );
});

Deno.test("serveWithNodeHttp() cuts a dead reader off while a live one keeps receiving", async () => {
  await using server = await startNodeServer({
    MAX_QUEUED_BYTES: "65536",
    HISTORY_SIZE: "0",
  });
  const stuck = await connect(server.port);
  try {
    await writeAll(stuck, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    await eventually(async () => (await stats(server.url)).localClients === 1);
    await using reader = await SseClient.open(`${server.url}/events`);
    assert.equal((await reader.next()).event, "system");
    const message = "x".repeat(60_000);
    const published: unknown[] = [];
    const received: Array<string | undefined> = [];
    // Publish until the dead reader is dropped (the kernel buffers some MiB first).
    while (published.length < 2000) {
      const { status, json } = await publish(server.url, { message });
      assert.equal(status, 202);
      published.push(json.id);
      received.push(...(await reader.collect(1, 10_000)).map((e) => e.id));
      if (published.length % 20 === 0 && (await stats(server.url)).dropped) {
        break;
      }
    }
    const after = await stats(server.url);
    assert.ok(after.dropped >= 1, `dropped: ${after.dropped}`);
    assert.equal(after.localClients, 1);
    assert.deepEqual(received, published);
    // The dead reader's connection ends: it holds only what was buffered.
    let total = 0;
    while (true) {
      const chunk = await readChunk(stuck, 10_000).catch((error) => {
        if (error instanceof Deno.errors.ConnectionReset) return null;
        throw error;
      });
      if (chunk === null) break;
      total += chunk.byteLength;
    }
    assert.ok(
      total < published.length * message.length,
      `the dead reader got ${total} bytes`,
    );
  } finally {
    stuck.close();
  }
});

Deno.test("serveWithNodeHttp() sends small events published in bursts in order, and still cuts a dead reader off", async () => {
  // Events under the sink's 16 KiB hold limit wait for the write pass, and
  // a burst arriving while a pass runs joins them per socket: the live
  // reader must still get each once, in id order, and the dead one's backlog
  // must still reach MAX_QUEUED_BYTES.
  await using server = await startNodeServer({
    MAX_QUEUED_BYTES: "65536",
    HISTORY_SIZE: "0",
  });
  const stuck = await connect(server.port);
  try {
    await writeAll(stuck, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    await eventually(async () => (await stats(server.url)).localClients === 1);
    // Two topics: a coalesced batch reaches this stream as one write per
    // event, several held for one pass.
    await using reader = await SseClient.open(
      `${server.url}/events?topic=chat&topic=other`,
    );
    assert.equal((await reader.next()).event, "system");
    const message = "y".repeat(3_000);
    const published: string[] = [];
    const received: Array<string | undefined> = [];
    const burst = 20;
    while (published.length < 8000) {
      const answers = await Promise.all(
        Array.from({ length: burst }, () => publish(server.url, { message })),
      );
      for (const { status, json } of answers) {
        assert.equal(status, 202);
        published.push(String(json.id));
      }
      received.push(...(await reader.collect(burst, 10_000)).map((e) => e.id));
      if ((await stats(server.url)).dropped) break;
    }
    const after = await stats(server.url);
    assert.ok(after.dropped >= 1, `dropped: ${after.dropped}`);
    assert.equal(after.localClients, 1);
    assert.deepEqual(received, [...published].sort(compareIdText));
  } finally {
    stuck.close();
  }
});

/** POSTs a message on `conn` (kept alive) and reads the whole answer. */
async function postOn(conn: Deno.TcpConn, message: string): Promise<number> {
  const body = JSON.stringify({ message });
  await writeAll(
    conn,
    `POST /message HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\n\r\n${body}`,
  );
  const chunk = await readChunk(conn);
  if (chunk === null) return 0;
  return Number(new TextDecoder().decode(chunk).split(" ")[1]);
}

Deno.test("serveWithNodeHttp() keeps an idle keep-alive connection past node:http's 5 s, so a pooled publisher's next POST is answered", async () => {
  await using server = await startNodeServer();
  const conn = await connect(server.port);
  try {
    assert.equal(await postOn(conn, "first"), 202);
    // The idle time is what is under test: node:http closes after 5 s by
    // default (about 6 s here), and a POST racing that close fails with
    // "connection closed".
    await new Promise((resolve) => setTimeout(resolve, 6_500));
    assert.equal(await postOn(conn, "after 6.5 s idle"), 202);
  } finally {
    conn.close();
  }
});

Deno.test("serveWithNodeHttp() closes an idle keep-alive connection after keepAliveTimeoutMs", async () => {
  await using server = await startNodeServer({}, 200);
  const conn = await connect(server.port);
  try {
    assert.equal(await postOn(conn, "first"), 202);
    assert.equal(await readChunk(conn, 3000), null);
  } finally {
    conn.close();
  }
});

Deno.test("HTTP_SERVER=node deno task start prints its URL, serves, and drains on SIGTERM with exit 0", async () => {
  const port = freePort();
  await using task = spawnTask(["start"], {
    HTTP_SERVER: "node",
    PORT: String(port),
    HOSTNAME: "127.0.0.1",
    UPDATE_INTERVAL_MS: "0",
    HEARTBEAT_MS: "0",
  });
  const url = `http://127.0.0.1:${port}`;
  await eventually(
    () => task.output().includes(`Listening on ${url}/`),
    15_000,
    "the URL",
  );
  assert.match(task.output(), /node:http.*Listening on/);
  const body = await stats(url);
  assert.equal(body.localClients, 0);
  await using client = await SseClient.open(`${url}/events`);
  assert.equal((await client.next()).event, "system");
  const { status } = await publish(url, { message: "before the drain" });
  assert.equal(status, 202);
  assert.equal(dataOf(await client.next()).message, "before the drain");
  task.child.kill("SIGTERM");
  assert.ok(await client.ended(3000), "the stream did not end");
  assert.equal(client.retries.length, 2);
  const hint = client.retries[1]!;
  assert.ok(hint >= 4000 && hint <= 6000, `retry ${hint}`);
  const exit = await task.child.status;
  assert.equal(exit.code, 0, task.output());
});
