/** Stream limits over a real socket: MAX_CLIENTS, topics per stream, topic names. */
import assert from "node:assert/strict";
import { eventually, startServer } from "./_server.ts";
import { SseClient } from "./_sse_client.ts";

async function refused(
  url: string,
): Promise<
  { status: number; headers: Headers; json: Record<string, unknown> }
> {
  const response = await fetch(url);
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    json: JSON.parse(text),
  };
}

Deno.test("GET /events past MAX_CLIENTS answers 503 with Retry-After and a JSON error", async () => {
  await using server = await startServer({ env: { MAX_CLIENTS: "3" } });
  const open: SseClient[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const client = await SseClient.open(`${server.url}/events`);
      await client.next();
      open.push(client);
    }
    const answer = await refused(`${server.url}/events`);
    assert.equal(answer.status, 503);
    assert.match(answer.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
    assert.match(
      answer.headers.get("content-type") ?? "",
      /^application\/json/,
    );
    assert.match(String(answer.json.error), /limit of 3 streams/);
    // The refusal held no slot, and the rest of the server still answers.
    assert.equal(server.app.hub.stats().localClients, 3);
    const stats = await fetch(`${server.url}/stats`);
    assert.equal(stats.status, 200);
    await stats.body?.cancel();
    // A slot freed is a slot available again.
    await open.pop()!.close();
    await eventually(() => server.app.hub.stats().localClients === 2);
    const again = await SseClient.open(`${server.url}/events`);
    open.push(again);
    assert.equal((await again.next()).event, "system");
  } finally {
    for (const client of open) await client.close();
  }
});

Deno.test("GET /events with more topics than MAX_TOPICS_PER_STREAM answers 400", async () => {
  await using server = await startServer({
    env: { MAX_TOPICS_PER_STREAM: "4" },
  });
  const five = ["a", "b", "c", "d", "e"].map((t) => `topic=${t}`).join("&");
  const answer = await refused(`${server.url}/events?${five}`);
  assert.equal(answer.status, 400);
  assert.match(String(answer.json.error), /at most 4 topics per stream, got 5/);
  assert.equal(server.app.hub.stats().localClients, 0);
});

Deno.test("GET /events counts a repeated topic once", async () => {
  await using server = await startServer({
    env: { MAX_TOPICS_PER_STREAM: "2" },
  });
  const repeated = Array(50).fill("topic=a").join("&");
  await using client = await SseClient.open(
    `${server.url}/events?${repeated}&topic=b`,
  );
  const welcome = await client.next();
  assert.deepEqual(JSON.parse(welcome.data).topics, ["a", "b"]);
});

Deno.test("GET /events with exactly MAX_TOPICS_PER_STREAM topics opens", async () => {
  await using server = await startServer({
    env: { MAX_TOPICS_PER_STREAM: "4" },
  });
  const four = ["a", "b", "c", "d"].map((t) => `topic=${t}`).join("&");
  await using client = await SseClient.open(`${server.url}/events?${four}`);
  assert.equal((await client.next()).event, "system");
});

const BAD_TOPICS: Array<[string, string]> = [
  ["an empty topic", ""],
  ["a LF", "a%0Aevent:%20x"],
  ["a CR", "a%0Dretry:%201"],
  ["a CRLF", "a%0D%0Aid:%201"],
  ["a NUL", "a%00"],
  ["a space", "a%20b"],
  ["non-ASCII", "%C3%A9"],
  ["129 characters", "a".repeat(129)],
];

for (const [name, topic] of BAD_TOPICS) {
  Deno.test(`GET /events with ${name} in a topic answers 400 with a JSON error`, async () => {
    await using server = await startServer();
    const answer = await refused(
      `${server.url}/events?topic=ok&topic=${topic}`,
    );
    assert.equal(answer.status, 400);
    assert.match(String(answer.json.error), /^Cannot use topic /);
    assert.doesNotMatch(String(answer.json.error), /[\r\n\0]/);
    assert.equal(server.app.hub.stats().localClients, 0);
  });
}
