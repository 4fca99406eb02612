/** Tests of the publish validator, lib/message.ts: only `message` may hold any text. */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  MessageError,
  NAME_PATTERN,
  parseMessage,
  RESERVED_EVENTS,
  validateTopic,
} from "../lib/message.ts";

// FUZZ_SEED=random (as in `deno task fuzz`): a fresh seed; a failure prints it.
const SEED_TEXT = Deno.env.get("FUZZ_SEED") ?? "20260401";
const SEED = SEED_TEXT === "random"
  ? Math.floor(Math.random() * 2 ** 31)
  : Number(SEED_TEXT);
const RUNS = Number(Deno.env.get("FUZZ_RUNS") ?? 200);

function rejects(body: unknown, pattern: RegExp): void {
  assert.throws(
    () => parseMessage(body),
    (error) => error instanceof MessageError && pattern.test(error.message),
  );
}

Deno.test("parseMessage() defaults the topic and the event to chat", () => {
  assert.deepEqual(parseMessage({ message: "hi" }), {
    message: "hi",
    topic: "chat",
    event: "chat",
  });
});

Deno.test("parseMessage() keeps the message exactly, whatever it holds", () => {
  for (
    const message of [
      "",
      "a\nb",
      "a\rb",
      "a\r\nb",
      "\n\n",
      "x\ndata: y\nid: 1\nevent: system\nretry: 1\n\n",
      "\0",
      "\ud800",
      "\udc00x",
      "\u{1f431}",
      "\ufeffbom",
      "x".repeat(100_000),
    ]
  ) {
    assert.equal(parseMessage({ message }).message, message);
  }
});

Deno.test("parseMessage() accepts a topic and an event from the safe set", () => {
  assert.deepEqual(
    parseMessage({
      message: "m",
      topic: "rooms/a-b_c.d:1",
      event: "Chat.v2",
    }),
    { message: "m", topic: "rooms/a-b_c.d:1", event: "Chat.v2" },
  );
  const longest = "a".repeat(128);
  assert.equal(parseMessage({ message: "m", topic: longest }).topic, longest);
});

Deno.test("parseMessage() refuses a body that is not a JSON object", () => {
  for (const body of [null, [], ["message"], "message", 1, true, undefined]) {
    rejects(body, /^Cannot publish: the body must be a JSON object$/);
  }
});

Deno.test("parseMessage() refuses an id: the hub assigns ids", () => {
  rejects({ message: "m", id: "1-0" }, /"id" is assigned by the hub/);
  rejects({ message: "m", id: null }, /"id" is assigned by the hub/);
  rejects({ message: "m", id: 9 }, /"id" is assigned by the hub/);
});

Deno.test("parseMessage() refuses unknown fields, retry and data among them", () => {
  for (const key of ["retry", "data", "comment", "Message", "__proto__"]) {
    const body = JSON.parse(`{"message":"m",${JSON.stringify(key)}:1}`);
    rejects(body, /^Cannot publish: unknown field /);
  }
});

Deno.test("parseMessage() refuses a missing or non-string message, topic or event", () => {
  rejects({}, /"message" must be a string/);
  for (const value of [1, null, true, {}, ["a"]]) {
    rejects({ message: value }, /"message" must be a string/);
    rejects({ message: "m", topic: value }, /"topic" must be a string/);
    rejects({ message: "m", event: value }, /"event" must be a string/);
  }
});

const BAD_NAMES = [
  "",
  " ",
  "a b",
  "a\nb",
  "a\rb",
  "a\r\nb",
  "chat\n",
  "\nchat",
  "a\0b",
  "a\tb",
  "é",
  "a\u2028b",
  "a%0Ab",
  "a,b",
  "a;b",
  "a".repeat(129),
  "\ud800",
];

Deno.test("parseMessage() refuses a topic or an event outside the safe set", () => {
  for (const name of BAD_NAMES) {
    rejects({ message: "m", topic: name }, /"topic" .* must be 1 to 128 of/s);
    rejects({ message: "m", event: name }, /"event" .* must be 1 to 128 of/s);
  }
});

Deno.test("parseMessage() refuses the hub's and EventSource's own event names", () => {
  for (const event of ["system", "update", "reset", "error", "open"]) {
    assert.ok(RESERVED_EVENTS.has(event));
    rejects({ message: "m", event }, /is reserved for the hub/);
  }
});

Deno.test("parseMessage() error messages quote and shorten the offending value", () => {
  try {
    parseMessage({ message: "m", topic: "a\r\n" + "b".repeat(10_000) });
    assert.fail("expected a MessageError");
  } catch (error) {
    assert.ok(error instanceof MessageError);
    // No raw line break can reach a log line or a header, and the text is short.
    assert.doesNotMatch(error.message, /[\r\n]/);
    assert.ok(error.message.length < 200, error.message);
  }
});

Deno.test("validateTopic() returns a safe topic and refuses any other", () => {
  assert.equal(validateTopic("chat"), "chat");
  assert.equal(validateTopic("a/b:c.d-e_f"), "a/b:c.d-e_f");
  for (const name of BAD_NAMES) {
    assert.throws(() => validateTopic(name), MessageError);
  }
});

Deno.test("parseMessage() accepts a topic or event exactly when it is safe (property)", () => {
  const name = fc.oneof(
    fc.string({ unit: "binary", maxLength: 140 }),
    fc.string({
      unit: fc.constantFrom(..."aZ09-_.:/", "\n", "\r", "\0", " ", "é"),
      maxLength: 140,
    }),
  );
  fc.assert(
    fc.property(name, name, (topic, event) => {
      const safe = NAME_PATTERN.test(topic) && NAME_PATTERN.test(event) &&
        !RESERVED_EVENTS.has(event);
      let result;
      try {
        result = parseMessage({ message: "m", topic, event });
      } catch (error) {
        assert.ok(error instanceof MessageError);
        assert.ok(
          !safe,
          `refused a safe pair ${JSON.stringify([topic, event])}`,
        );
        return;
      }
      assert.ok(safe);
      assert.deepEqual(result, { message: "m", topic, event });
      assert.doesNotMatch(topic + event, /[\r\n\0]/);
    }),
    { seed: SEED, numRuns: RUNS },
  );
});
