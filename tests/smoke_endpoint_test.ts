import assert from "node:assert/strict";
import { dataOf, SseClient } from "./_sse_client.ts";
import { startServer } from "./_server.ts";

Deno.test("GET /events sends retry, a welcome, then a published chat event with an id", async () => {
  await using server = await startServer({ env: { RETRY_MS: "1234" } });
  await using client = await SseClient.open(`${server.url}/events`);
  assert.equal(
    client.response.headers.get("content-type"),
    "text/event-stream; charset=utf-8",
  );
  const welcome = await client.next();
  assert.equal(welcome.event, "system");
  assert.equal(welcome.id, undefined);
  assert.deepEqual(client.retries, [1234]);
  const posted = await server.publish({ message: "hello" });
  assert.equal(posted.status, 202);
  const [chat] = await client.collect(1);
  assert.equal(chat!.event, "chat");
  assert.equal(chat!.id, posted.json.id);
  assert.equal(dataOf(chat!).message, "hello");
});

Deno.test("GET /events welcome tells the page the retry delay, and a 503's Retry-After is readable cross-origin", async () => {
  await using server = await startServer({
    env: { RETRY_MS: "2000", MAX_CLIENTS: "1" },
  });
  await using client = await SseClient.open(`${server.url}/events`);
  assert.equal(dataOf(await client.next()).retry, 2000);
  const refused = await fetch(`${server.url}/events`, {
    headers: { origin: "https://page.example" },
  });
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get("retry-after"), "5");
  assert.match(
    refused.headers.get("access-control-expose-headers") ?? "",
    /Retry-After/,
  );
  assert.match((await refused.json()).error, /limit of 1 streams/);
});

Deno.test("SseClient.ended() reports a server-side end even after events arrived", async () => {
  await using server = await startServer();
  await using client = await SseClient.open(`${server.url}/events`);
  await client.next();
  await server.publish({ message: "before the end" });
  server.app.drain(100);
  assert.equal(await client.ended(3000), true);
  assert.equal(dataOf(await client.next()).message, "before the end");
});
