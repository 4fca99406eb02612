/**
 * The published attack vectors (tests/vectors/sse_attack_vectors.json): one
 * named test per vector, input -> exact bytes on the wire. The table's
 * `$comment` says how each kind is checked, so another SSE implementation
 * can be checked against the same file.
 */
import assert from "node:assert/strict";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import {
  formatComment,
  formatEvent,
  type ServerSentEvent,
} from "../lib/sse_format.ts";
import { connect, parseResponse, readChunk, writeAll } from "./_raw_http.ts";
import { startServer, type TestServer } from "./_server.ts";

interface Vector {
  name: string;
  kind: "encode" | "comment" | "publish" | "subscribe" | "http";
  why: string;
  input?: unknown;
  wire?: string;
  throws?: string;
  body?: unknown;
  bodyText?: string;
  headers?: Record<string, string>;
  subscribe?: string[];
  status?: number;
  target?: string;
  retries?: number[];
  events?: string[];
  request?: string;
}

const table = JSON.parse(
  await Deno.readTextFile(
    new URL("./vectors/sse_attack_vectors.json", import.meta.url),
  ),
) as { format: string; vectors: Vector[] };
assert.equal(table.format, "herald-sse-attack-vectors/1");

/** Text in main.ts and nowhere in static/: a traversal that worked would show it. */
const SECRET_MARKER = "composition root";
const RETRY_MS = 5000;
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Expands the table's shorthands: @LONG_n@, @T129@, @U+XXXX@. */
function expand<T>(value: T): T {
  if (typeof value === "string") {
    return value
      .replace(/@LONG_(\d+)@/g, (_, n) => "a".repeat(Number(n)))
      .replace(/@T129@/g, "t".repeat(129))
      .replace(
        /@U\+([0-9A-F]{4})@/g,
        (_, hex) => String.fromCharCode(parseInt(hex, 16)),
      ) as T;
  }
  if (Array.isArray(value)) return value.map(expand) as T;
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, expand(v)]),
    ) as T;
  }
  return value;
}

function parse(
  text: string,
): { events: EventSourceMessage[]; retries: number[] } {
  const events: EventSourceMessage[] = [];
  const retries: number[] = [];
  createParser({
    onEvent: (event) => events.push(event),
    onRetry: (ms) => retries.push(ms),
  }).feed(text);
  return { events, retries };
}

/**
 * Checks `wire` against `template`, where each {timestamp} stands for the
 * ISO-8601 time found at that place in `wire`.
 */
function assertWire(wire: string, template: string): void {
  const parts = template.split("{timestamp}");
  let expected = parts[0]!;
  for (const part of parts.slice(1)) {
    const time = wire.slice(expected.length, expected.length + 24);
    assert.match(time, ISO_TIME, `no timestamp at ${expected.length}`);
    expected += time + part;
  }
  assert.equal(wire, expected);
}

/** Reads the stream until `done(text)`, decoding every U+FEFF as sent. */
async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  decoder: TextDecoder,
  text: string,
  done: (text: string) => boolean,
): Promise<string> {
  const deadline = Date.now() + 5000;
  while (!done(text)) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(`Timed out; got ${JSON.stringify(text.slice(-300))}`),
          ),
        Math.max(1, deadline - Date.now()),
      );
    });
    try {
      const { done: ended, value } = await Promise.race([
        reader.read(),
        timeout,
      ]);
      if (ended) {
        throw new Error(
          `Stream ended; got ${JSON.stringify(text.slice(-300))}`,
        );
      }
      text += decoder.decode(value, { stream: true });
    } finally {
      clearTimeout(timer);
    }
  }
  return text;
}

async function post(
  server: TestServer,
  body: string,
  headers: Record<string, string>,
) {
  const response = await fetch(`${server.url}/message`, {
    method: "POST",
    headers,
    body,
  });
  return { status: response.status, json: await response.json() };
}

function checkEncode(vector: Vector): void {
  const input = expand(vector.input) as ServerSentEvent;
  if (vector.throws !== undefined) {
    assert.throws(
      () => formatEvent(input),
      (error) => error instanceof Error && error.name === vector.throws,
    );
    return;
  }
  const wire = expand(vector.wire!);
  assert.equal(formatEvent(input), wire);
  // And a spec-compliant parser sees exactly one event with exactly that data.
  const { events } = parse(wire);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.data, input.data.replace(/\r\n|\r/g, "\n"));
}

function checkComment(vector: Vector): void {
  const wire = expand(vector.wire!);
  assert.equal(formatComment(expand(vector.input) as string), wire);
  assert.deepEqual(parse(wire), { events: [], retries: [] });
}

async function checkPublish(vector: Vector): Promise<void> {
  await using server = await startServer();
  const topics = vector.subscribe ?? ["chat"];
  const query = topics.map((topic) => `topic=${encodeURIComponent(topic)}`)
    .join("&");
  const response = await fetch(`${server.url}/events?${query}`);
  const reader = response.body!.getReader();
  try {
    const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
    const opening = /^retry: 5000\nevent: system\ndata: [^\n]*\n\n$/;
    let text = await readUntil(reader, decoder, "", (t) => opening.test(t));
    const start = text.length;

    const body = vector.bodyText !== undefined
      ? expand(vector.bodyText)
      : JSON.stringify(expand(vector.body));
    const answer = await post(
      server,
      body,
      vector.headers ?? { "content-type": "application/json" },
    );
    assert.equal(answer.status, vector.status, JSON.stringify(answer.json));

    // A sentinel publish marks the end of what the vector put on the wire.
    const sentinel = await post(
      server,
      JSON.stringify({ message: "sentinel", topic: topics[0] }),
      {
        "content-type": "application/json",
      },
    );
    assert.equal(sentinel.status, 202);
    const marker = `event: chat\nid: ${sentinel.json.id}\n`;
    text = await readUntil(reader, decoder, text, (t) => t.includes(marker));
    const wire = text.slice(start, text.indexOf(marker));

    const template = expand(vector.wire!);
    if (answer.status !== 202) {
      assert.equal(wire, "", "a refused publish reached the stream");
      return;
    }
    assertWire(wire, template.replaceAll("{id}", String(answer.json.id)));

    // What a client makes of those bytes: one event, this id, this message.
    const sent = expand(vector.body) as { message: string; event?: string };
    const { events, retries } = parse(wire);
    assert.deepEqual(retries, []);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.id, answer.json.id);
    assert.equal(events[0]!.event, sent.event ?? "chat");
    assert.equal(JSON.parse(events[0]!.data).message, sent.message);
  } finally {
    await reader.cancel();
  }
}

async function checkSubscribe(vector: Vector): Promise<void> {
  await using server = await startServer();
  const response = await fetch(`${server.url}${expand(vector.target!)}`);
  assert.equal(response.status, vector.status);
  if (response.status !== 200) {
    assert.equal(typeof (await response.json()).error, "string");
    return;
  }
  const reader = response.body!.getReader();
  try {
    const text = await readUntil(
      reader,
      new TextDecoder("utf-8", { ignoreBOM: true }),
      "",
      (t) => /event: system\ndata: [^\n]*\n\n$/.test(t),
    );
    const { events, retries } = parse(text);
    assert.deepEqual(retries, vector.retries ?? [RETRY_MS]);
    assert.deepEqual(events.map((event) => event.event), vector.events);
    for (const event of events) {
      assert.equal(event.id, undefined, "an opening event carried an id");
    }
  } finally {
    await reader.cancel();
  }
}

async function checkHttp(vector: Vector): Promise<void> {
  await using server = await startServer();
  const conn = await connect(Number(new URL(server.url).port));
  try {
    await writeAll(conn, expand(vector.request!));
    // Read the first response only: the request may never finish.
    let bytes = new Uint8Array(0);
    while (true) {
      const chunk = await readChunk(conn, 5000);
      if (chunk === null) break;
      const joined = new Uint8Array(bytes.length + chunk.length);
      joined.set(bytes);
      joined.set(chunk, bytes.length);
      bytes = joined;
      const text = new TextDecoder().decode(bytes);
      const end = text.indexOf("\r\n\r\n");
      const length = /\r\ncontent-length: (\d+)/i.exec(text)?.[1];
      if (
        end !== -1 && length !== undefined &&
        bytes.length >= end + 4 + Number(length)
      ) break;
    }
    const response = parseResponse(bytes);
    assert.equal(response.status, vector.status, response.head);
    assert.ok(!response.body.includes(SECRET_MARKER));
  } finally {
    conn.close();
  }
}

const CHECKS: Record<Vector["kind"], (vector: Vector) => void | Promise<void>> =
  {
    encode: checkEncode,
    comment: checkComment,
    publish: checkPublish,
    subscribe: checkSubscribe,
    http: checkHttp,
  };

Deno.test("sse_attack_vectors.json has unique names and a reason for each vector", () => {
  const names = table.vectors.map((vector) => vector.name);
  assert.equal(new Set(names).size, names.length);
  for (const vector of table.vectors) {
    assert.ok(vector.why.length > 0, vector.name);
    assert.ok(vector.kind in CHECKS, vector.name);
  }
});

for (const vector of table.vectors) {
  Deno.test(`attack vector: ${vector.name}`, () => CHECKS[vector.kind](vector));
}
