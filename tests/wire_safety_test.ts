/**
 * Wire safety, proven by property: whatever a publisher or a subscriber
 * sends, nothing can forge an SSE event, id, event name or retry.
 *
 * Every property is checked by an independent spec-compliant parser
 * (npm:eventsource-parser) and, over a real socket, by Deno's own
 * `EventSource`. CI runs a fixed seed and FUZZ_RUNS (default 200) runs per
 * property; `deno task fuzz` runs many more with a fresh seed. A failure
 * prints the seed and the shrunk counterexample: replay it with
 * `FUZZ_SEED=<seed> deno task test tests/wire_safety_test.ts`.
 */
import assert from "node:assert/strict";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { SseClient } from "./_sse_client.ts";
import fc from "fast-check";
import { NAME_PATTERN, RESERVED_EVENTS } from "../lib/message.ts";
import {
  formatComment,
  formatEvent,
  type ServerSentEvent,
} from "../lib/sse_format.ts";
import { startServer, type TestServer } from "./_server.ts";

const RUNS = Number(Deno.env.get("FUZZ_RUNS") ?? 200);
const SEED_TEXT = Deno.env.get("FUZZ_SEED") ?? "20260401";
const SEED = SEED_TEXT === "random"
  ? Math.floor(Math.random() * 2 ** 31)
  : Number(SEED_TEXT);
if (SEED_TEXT === "random") {
  // deno-lint-ignore no-console
  console.log(`wire_safety_test: FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS}`);
}
const PARAMETERS = { seed: SEED, numRuns: RUNS } as const;
const RETRY_MS = 4321;

// --- Hostile text ----------------------------------------------------------

/** Pieces an attacker would try: line breaks, NUL, BOM, and SSE field text. */
const INJECTIONS = [
  "\r",
  "\n",
  "\r\n",
  "\n\n",
  "\r\r",
  "\n\r",
  "\r\n\r\n",
  "\0",
  "\ufeff",
  "\u2028",
  "\u2029",
  "\u0085",
  "data:",
  "data: x",
  "id:",
  "id: 1",
  "id: 9999999999999-0",
  "event:",
  "event: system",
  "event: forged",
  "retry:",
  "retry: 1",
  ":",
  ": comment",
  "\ndata: forged\n\n",
  "\nid: 1\n",
  "\nevent: forged\n",
  "\rretry: 1\r",
  "\r\n\r\nevent: update\r\nid: 1\r\nretry: 1\r\ndata: {}\r\n\r\n",
];

/** One unit of hostile text. */
const hostileUnit = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...INJECTIONS) },
  // Any code point, astral ones included.
  {
    weight: 3,
    arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
  },
  // ASCII and Latin-1 controls.
  {
    weight: 2,
    arbitrary: fc.string({ unit: "binary-ascii", minLength: 1, maxLength: 1 }),
  },
  // A lone surrogate: not representable in UTF-8.
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((code) =>
      String.fromCharCode(code)
    ),
  },
  {
    weight: 2,
    arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }),
  },
);

/** Hostile text, sometimes with a very long line in it. */
const hostileString = fc.oneof(
  { weight: 9, arbitrary: fc.string({ unit: hostileUnit, maxLength: 40 }) },
  {
    weight: 1,
    arbitrary: fc.tuple(
      fc.string({ unit: hostileUnit, maxLength: 8 }),
      fc.integer({ min: 1_000, max: 40_000 }),
      fc.string({ unit: hostileUnit, maxLength: 8 }),
    ).map(([head, length, tail]) => head + "x".repeat(length) + tail),
  },
);

/**
 * Hostile text without U+FEFF, for Deno's `EventSource` only: Deno 2.9.6
 * drops a U+FEFF that starts a network read anywhere in a stream (a
 * TextDecoderStream bug), so a message holding one may lose it at a read
 * boundary. eventsource-parser covers U+FEFF; see the ignored test below for
 * the hardening herald can do about it.
 */
const hostileStringForDeno = hostileString.map((text) =>
  text.replaceAll("\ufeff", "")
);

/** Names that pass the validator, or not. */
const nameLike = fc.oneof(
  fc.constantFrom(
    "chat",
    "news",
    "a/b:c.d-e_f",
    "message",
    "system",
    "update",
    "reset",
    "error",
    "open",
    "System",
  ),
  fc.string({
    unit: fc.constantFrom(..."aZ09-_.:/"),
    minLength: 1,
    maxLength: 12,
  }),
  hostileString,
);

// --- The independent parser --------------------------------------------------

interface Parsed {
  events: EventSourceMessage[];
  retries: number[];
  comments: string[];
  errors: string[];
}

/** Parses bytes cut at `cuts` (as a network would), decoding UTF-8 as a stream. */
function parseBytes(bytes: Uint8Array, cuts: readonly number[] = []): Parsed {
  const parsed: Parsed = { events: [], retries: [], comments: [], errors: [] };
  const parser = createParser({
    onEvent: (event) => parsed.events.push(event),
    onRetry: (ms) => parsed.retries.push(ms),
    onComment: (comment) => parsed.comments.push(comment),
    onError: (error) => parsed.errors.push(error.message),
  });
  // ignoreBOM: Deno 2.9.6's streaming decoder drops a U+FEFF that starts any
  // chunk, not only the first (see the ignored test at the end of this file).
  // The parser strips the one BOM the SSE spec allows, at the stream start.
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))]
    .sort((a, b) => a - b);
  let start = 0;
  for (const point of [...points, bytes.length]) {
    parser.feed(decoder.decode(bytes.subarray(start, point), { stream: true }));
    start = point;
  }
  parser.feed(decoder.decode());
  return parsed;
}

/** What a client must see as data: UTF-8 cannot carry a lone surrogate, and every line break reads as LF. */
function asReceived(text: string): string {
  return text.toWellFormed().replace(/\r\n|\r/g, "\n");
}

const encoder = new TextEncoder();

// --- formatEvent and formatComment, directly ---------------------------------

Deno.test("formatEvent() either refuses or yields exactly the one event it was given (property)", () => {
  const message = fc.record({
    data: hostileString,
    event: fc.option(nameLike, { nil: undefined }),
    id: fc.option(hostileString, { nil: undefined }),
    retry: fc.option(fc.nat({ max: 2 ** 31 }), { nil: undefined }),
  });
  const cuts = fc.array(fc.nat(), { maxLength: 6 });
  fc.assert(
    fc.property(message, cuts, (generated, cutAt) => {
      const input: ServerSentEvent = { data: generated.data };
      if (generated.event !== undefined) input.event = generated.event;
      if (generated.id !== undefined) input.id = generated.id;
      if (generated.retry !== undefined) input.retry = generated.retry;
      const unsafe = /[\r\n\0]/.test(input.event ?? "") ||
        /[\r\n\0]/.test(input.id ?? "");
      let text: string;
      try {
        text = formatEvent(input);
      } catch (error) {
        assert.ok(error instanceof SyntaxError, String(error));
        assert.ok(unsafe, `refused a safe event: ${String(error)}`);
        return;
      }
      assert.ok(!unsafe, "encoded an event or id holding CR, LF or NUL");
      const parsed = parseBytes(encoder.encode(text), cutAt);
      assert.deepEqual(parsed.errors, []);
      assert.deepEqual(parsed.comments, []);
      assert.deepEqual(
        parsed.retries,
        input.retry === undefined ? [] : [input.retry],
      );
      assert.equal(
        parsed.events.length,
        1,
        `got ${parsed.events.length} events`,
      );
      const [event] = parsed.events;
      assert.equal(event!.data, asReceived(input.data));
      // An empty event name is the default type, which the parser reports as undefined.
      assert.equal(
        event!.event,
        input.event === undefined || input.event === ""
          ? undefined
          : input.event.toWellFormed(),
      );
      assert.equal(event!.id, input.id?.toWellFormed());
    }),
    PARAMETERS,
  );
});

Deno.test("formatComment() never yields an event, an id or a retry, and leaves the parser clean (property)", () => {
  fc.assert(
    fc.property(
      hostileString,
      fc.array(fc.nat(), { maxLength: 6 }),
      (text, cutAt) => {
        const after = formatEvent({ event: "chat", id: "1-0", data: "next" });
        const parsed = parseBytes(
          encoder.encode(formatComment(text) + after),
          cutAt,
        );
        assert.deepEqual(parsed.retries, []);
        assert.deepEqual(parsed.errors, []);
        assert.deepEqual(parsed.events, [{
          event: "chat",
          id: "1-0",
          data: "next",
        }]);
        assert.deepEqual(parsed.comments, asReceived(text).split("\n"));
      },
    ),
    PARAMETERS,
  );
});

// --- Through the server: POST /message to GET /events ---------------------------

async function publish(server: TestServer, body: Record<string, unknown>) {
  const response = await fetch(`${server.url}/message`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

const SERVER_ENV = {
  RETRY_MS: String(RETRY_MS),
  MAX_MESSAGE_BYTES: String(1 << 20),
};
const SUBSCRIBED = ["chat", "news", "a/b:c.d-e_f"];

Deno.test("POST /message: any message arrives as exactly one event with exactly that message, nothing forged (eventsource-parser)", async () => {
  await using server = await startServer({ env: SERVER_ENV });
  const query = SUBSCRIBED.map((topic) => `topic=${encodeURIComponent(topic)}`)
    .join("&");
  await using client = await SseClient.open(`${server.url}/events?${query}`);
  assert.equal((await client.next()).event, "system");
  const body = fc.record({
    message: hostileString,
    topic: fc.option(nameLike, { nil: undefined }),
    event: fc.option(nameLike, { nil: undefined }),
  });
  await fc.assert(
    fc.asyncProperty(body, async (generated) => {
      const sent: Record<string, unknown> = { message: generated.message };
      if (generated.topic !== undefined) sent.topic = generated.topic;
      if (generated.event !== undefined) sent.event = generated.event;
      const topic = generated.topic ?? "chat";
      const eventName = generated.event ?? "chat";
      const valid = NAME_PATTERN.test(topic) && NAME_PATTERN.test(eventName) &&
        !RESERVED_EVENTS.has(eventName);
      const answer = await publish(server, sent);
      assert.equal(
        answer.status,
        valid ? 202 : 400,
        JSON.stringify(answer.json),
      );
      if (!valid || !SUBSCRIBED.includes(topic)) return;
      // The very next event is this one: nothing was inserted before it.
      const event = await client.next();
      assert.equal(event.id, answer.json.id);
      assert.equal(event.event, eventName);
      const data = JSON.parse(event.data);
      // JSON escapes lone surrogates (\udXXX), so even they come back exactly.
      assert.equal(data.message, generated.message);
      assert.equal(data.topic, topic);
    }),
    PARAMETERS,
  );
  // Nothing was left over after the last publish, and no retry was forged.
  const sentinel = await publish(server, { message: "sentinel" });
  const next = await client.next();
  assert.equal(next.id, sentinel.json.id);
  assert.deepEqual(client.retries, [RETRY_MS]);
});

Deno.test("POST /message: any message arrives exactly once with its id through Deno's EventSource", async () => {
  await using server = await startServer({ env: SERVER_ENV });
  const source = new EventSource(`${server.url}/events`);
  const chats: MessageEvent[] = [];
  const waiting: Array<() => void> = [];
  const unexpected: string[] = [];
  source.addEventListener("chat", (event) => {
    chats.push(event as MessageEvent);
    waiting.shift()?.();
  });
  let welcomes = 0;
  const opened = new Promise<void>((resolve) => {
    source.addEventListener("system", () => {
      welcomes++;
      resolve();
    });
  });
  for (const name of ["message", "forged", "update", "reset", "x", "error"]) {
    source.addEventListener(
      name,
      (event) => unexpected.push(`${name}: ${(event as MessageEvent).data}`),
    );
  }
  try {
    await opened;
    await fc.assert(
      fc.asyncProperty(hostileStringForDeno, async (message) => {
        const arrived = new Promise<void>((resolve) => waiting.push(resolve));
        const answer = await publish(server, { message });
        assert.equal(answer.status, 202);
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          arrived,
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error("No chat event within 5 s")),
              5000,
            );
          }),
        ]).finally(() => clearTimeout(timer));
        const event = chats.shift()!;
        assert.equal(chats.length, 0, "more than one event arrived");
        assert.equal(event.lastEventId, answer.json.id);
        assert.equal(JSON.parse(event.data).message, message);
      }),
      PARAMETERS,
    );
    assert.deepEqual(unexpected, []);
    assert.equal(welcomes, 1, "the stream reconnected or a welcome was forged");
    assert.equal(source.readyState, EventSource.OPEN);
  } finally {
    source.close();
  }
});

Deno.test("formatEvent() bytes, cut anywhere, reach Deno's EventSource as exactly that event (property)", async () => {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  const abort = new AbortController();
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", signal: abort.signal, onListen() {} },
    () =>
      new Response(stream, {
        headers: { "content-type": "text/event-stream" },
      }),
  );
  const source = new EventSource(`http://127.0.0.1:${server.addr.port}/`);
  try {
    await new Promise((resolve) =>
      source.addEventListener("open", resolve, { once: true })
    );
    controller.enqueue(encoder.encode(": ready\n\n"));
    let lastEventId = "";
    // Event names EventSource uses for itself are left out: "error" and "open" would be ambiguous here.
    const eventName = nameLike.map((name) => name.replaceAll("\ufeff", ""))
      .filter((name) =>
        !/[\r\n\0]/.test(name) && name !== "error" && name !== "open"
      );
    const id = fc.option(
      hostileStringForDeno.filter((text) => !/[\r\n\0]/.test(text)),
      { nil: undefined },
    );
    const cuts = fc.array(fc.nat(), { maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(
        hostileStringForDeno,
        fc.option(eventName, { nil: undefined }),
        id,
        cuts,
        async (data, event, eventId, cutAt) => {
          const input: ServerSentEvent = { data };
          if (event !== undefined) input.event = event;
          if (eventId !== undefined) input.id = eventId;
          const type = event === undefined || event === ""
            ? "message"
            : event.toWellFormed();
          const received = new Promise<MessageEvent>((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`No "${type}" event within 5 s`)),
              5000,
            );
            source.addEventListener(type, (e) => {
              clearTimeout(timer);
              resolve(e as MessageEvent);
            }, { once: true });
          });
          const bytes = encoder.encode(formatEvent(input));
          const points = [
            ...new Set(cutAt.map((cut) => cut % (bytes.length + 1))),
          ].sort((a, b) => a - b);
          let start = 0;
          for (const point of [...points, bytes.length]) {
            if (point > start) controller.enqueue(bytes.slice(start, point));
            start = point;
          }
          const message = await received;
          if (eventId !== undefined) lastEventId = eventId.toWellFormed();
          assert.equal(message.data, asReceived(data));
          assert.equal(message.lastEventId, lastEventId);
        },
      ),
      { ...PARAMETERS, numRuns: Math.min(RUNS, 1000) },
    );
    assert.equal(source.readyState, EventSource.OPEN);
  } finally {
    source.close();
    controller.close();
    abort.abort();
    await server.finished;
  }
});

// --- Through the server: what a subscriber sends ------------------------------

Deno.test("GET /events: any Last-Event-ID opens a stream with no forged id, event or retry (property)", async () => {
  await using server = await startServer({ env: SERVER_ENV });
  const headerSafe = (text: string) =>
    /^[\x20-\x7e\t]*$/.test(text) && text.trim() === text;
  await fc.assert(
    fc.asyncProperty(
      hostileString,
      fc.boolean(),
      async (lastEventId, asHeader) => {
        const useHeader = asHeader && headerSafe(lastEventId) &&
          lastEventId !== "";
        const url = useHeader
          ? `${server.url}/events`
          : `${server.url}/events?lastEventId=${
            encodeURIComponent(lastEventId.toWellFormed())
          }`;
        await using client = await SseClient.open(
          url,
          useHeader ? { headers: { "last-event-id": lastEventId } } : {},
        );
        const opening = [await client.next()];
        while (opening.at(-1)!.event !== "system" && opening.length < 3) {
          opening.push(await client.next());
        }
        for (const event of opening) {
          assert.ok(
            event.event === "reset" || event.event === "system",
            event.event,
          );
          assert.equal(event.id, undefined, "an id reached the opening events");
          const data = JSON.parse(event.data);
          if (event.event === "reset") {
            assert.equal(
              typeof data.lastEventId,
              "string",
            );
          }
        }
        assert.ok(opening.length <= 2);
        assert.deepEqual(client.retries, [RETRY_MS]);
      },
    ),
    { ...PARAMETERS, numRuns: Math.max(20, Math.floor(RUNS / 2)) },
  );
});

Deno.test("GET /events: a topic opens a stream exactly when it is a safe name, and is echoed exactly (property)", async () => {
  await using server = await startServer({ env: SERVER_ENV });
  await fc.assert(
    fc.asyncProperty(nameLike, async (topic) => {
      const response = await fetch(
        `${server.url}/events?topic=${
          encodeURIComponent(topic.toWellFormed())
        }`,
      );
      const safe = NAME_PATTERN.test(topic.toWellFormed());
      if (!safe) {
        assert.equal(response.status, 400);
        assert.equal(typeof (await response.json()).error, "string");
        return;
      }
      assert.equal(response.status, 200);
      const reader = response.body!.pipeThrough(new TextDecoderStream())
        .getReader();
      try {
        let text = "";
        while (!/event: system\ndata: [^\n]*\n\n/.test(text)) {
          const { done, value } = await reader.read();
          if (done) throw new Error(`Stream ended: ${text}`);
          text += value;
        }
        const parsed = parseBytes(
          encoder.encode(text.slice(0, text.lastIndexOf("\n\n") + 2)),
        );
        assert.equal(parsed.events.length, 1);
        assert.deepEqual(JSON.parse(parsed.events[0]!.data).topics, [topic]);
      } finally {
        await reader.cancel();
      }
    }),
    { ...PARAMETERS, numRuns: Math.max(20, Math.floor(RUNS / 2)) },
  );
});

Deno.test({
  name: "POST /message: a U+FEFF in a message never travels raw on the wire",
  // IGNORED until lib/hub.ts escapes U+FEFF in the JSON it builds. Deno
  // 2.9.6's TextDecoder({stream}) and TextDecoderStream, and so its
  // EventSource, drop a U+FEFF that starts any network read, not only the
  // stream's first: a Deno client loses it from a message whenever a read
  // boundary falls just before it. Herald's data is always JSON, where
  // `\ufeff` is the same string, so writing the escape instead of the raw
  // character costs nothing and makes every client see the exact message.
  async fn() {
    await using server = await startServer();
    const response = await fetch(`${server.url}/events`);
    const reader = response.body!.getReader();
    try {
      const answer = await publish(server, { message: "a\ufeffb" });
      assert.equal(answer.status, 202);
      let wire = "";
      const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
      while (!wire.includes(`id: ${answer.json.id}\ndata: `)) {
        wire += decoder.decode((await reader.read()).value, { stream: true });
      }
      while (!wire.endsWith("\n\n")) {
        wire += decoder.decode((await reader.read()).value, { stream: true });
      }
      assert.ok(!wire.includes("\ufeff"), "a raw U+FEFF is on the wire");
      assert.ok(wire.includes('"message":"a\\ufeffb"'), wire);
    } finally {
      await reader.cancel();
    }
  },
});
