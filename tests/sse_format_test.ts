/** Byte-exact tests of the SSE encoder, lib/sse_format.ts. */
import assert from "node:assert/strict";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import {
  formatComment,
  formatEvent,
  formatRetry,
  type ServerSentEvent,
} from "../lib/sse_format.ts";

/** What a spec-compliant parser makes of `text`. */
function parse(text: string): {
  events: EventSourceMessage[];
  retries: number[];
  comments: string[];
} {
  const events: EventSourceMessage[] = [];
  const retries: number[] = [];
  const comments: string[] = [];
  const parser = createParser({
    onEvent: (event) => events.push(event),
    onRetry: (ms) => retries.push(ms),
    onComment: (comment) => comments.push(comment),
  });
  parser.feed(text);
  return { events, retries, comments };
}

Deno.test("formatEvent() writes event, id and data lines, then a blank line", () => {
  assert.equal(
    formatEvent({ event: "chat", id: "1-0", data: "hi" }),
    "event: chat\nid: 1-0\ndata: hi\n\n",
  );
});

Deno.test("formatEvent() writes retry first when given", () => {
  assert.equal(
    formatEvent({ retry: 250, event: "chat", id: "7-1", data: "x" }),
    "retry: 250\nevent: chat\nid: 7-1\ndata: x\n\n",
  );
});

Deno.test("formatEvent() omits the event and id lines when they are not given", () => {
  assert.equal(formatEvent({ data: "x" }), "data: x\n\n");
});

Deno.test("formatEvent() writes one data line for empty data", () => {
  assert.equal(formatEvent({ data: "" }), "data: \n\n");
  assert.deepEqual(parse(formatEvent({ data: "" })).events, [
    { id: undefined, event: undefined, data: "" },
  ]);
});

const SPLITS: Array<[string, string, string]> = [
  ["LF", "a\nb", "data: a\ndata: b\n\n"],
  ["CR", "a\rb", "data: a\ndata: b\n\n"],
  ["CRLF", "a\r\nb", "data: a\ndata: b\n\n"],
  ["LF LF", "a\n\nb", "data: a\ndata: \ndata: b\n\n"],
  ["CR CR", "a\r\rb", "data: a\ndata: \ndata: b\n\n"],
  ["LF CR", "a\n\rb", "data: a\ndata: \ndata: b\n\n"],
  ["CR CRLF", "a\r\r\nb", "data: a\ndata: \ndata: b\n\n"],
  ["a trailing LF", "a\n", "data: a\ndata: \n\n"],
  ["a trailing CR", "a\r", "data: a\ndata: \n\n"],
  ["a leading CRLF", "\r\na", "data: \ndata: a\n\n"],
  ["a lone LF", "\n", "data: \ndata: \n\n"],
];

for (const [name, data, wire] of SPLITS) {
  Deno.test(`formatEvent() splits data on ${name} into separate data lines`, () => {
    assert.equal(formatEvent({ event: "chat", data }), `event: chat\n${wire}`);
    const { events } = parse(formatEvent({ event: "chat", data }));
    assert.equal(events.length, 1);
    // A parser joins data lines with LF: every line break comes back as LF.
    assert.equal(events[0]!.data, data.replace(/\r\n|\r/g, "\n"));
  });
}

Deno.test("formatEvent() keeps field-like text inside the data line", () => {
  const data = "x\ndata: y\nid: 9\nevent: system\nretry: 1\n: c\n\nz";
  assert.equal(
    formatEvent({ event: "chat", id: "1-0", data }),
    "event: chat\nid: 1-0\n" +
      "data: x\ndata: data: y\ndata: id: 9\ndata: event: system\n" +
      "data: retry: 1\ndata: : c\ndata: \ndata: z\n\n",
  );
  const { events, retries } = parse(
    formatEvent({ event: "chat", id: "1-0", data }),
  );
  assert.deepEqual(events, [{ event: "chat", id: "1-0", data }]);
  assert.deepEqual(retries, []);
});

Deno.test("formatEvent() keeps a leading space of the data (a parser strips only one)", () => {
  assert.equal(formatEvent({ data: " x" }), "data:  x\n\n");
  assert.equal(parse(formatEvent({ data: " x" })).events[0]!.data, " x");
});

Deno.test("formatEvent() passes NUL and non-SSE line separators through in data", () => {
  const data = "a\0b\u2028c\u2029d\u0085e\fg\vh";
  assert.equal(formatEvent({ data }), `data: ${data}\n\n`);
  assert.equal(parse(formatEvent({ data })).events[0]!.data, data);
});

const FORBIDDEN: Array<[string, string]> = [
  ["LF", "a\nb"],
  ["CR", "a\rb"],
  ["CRLF", "a\r\nb"],
  ["NUL", "a\0b"],
  ["a trailing LF", "a\n"],
  ["a lone CR", "\r"],
];

for (const [name, value] of FORBIDDEN) {
  Deno.test(`formatEvent() throws a SyntaxError on ${name} in event`, () => {
    assert.throws(
      () => formatEvent({ event: value, data: "x" }),
      (error) =>
        error instanceof SyntaxError &&
        error.message ===
          'Cannot encode event: "event" must not contain CR, LF or NUL',
    );
  });
  Deno.test(`formatEvent() throws a SyntaxError on ${name} in id`, () => {
    assert.throws(
      () => formatEvent({ id: value, data: "x" }),
      (error) =>
        error instanceof SyntaxError &&
        error.message ===
          'Cannot encode event: "id" must not contain CR, LF or NUL',
    );
  });
}

Deno.test("formatEvent() throws a RangeError on a retry that is not a non-negative integer", () => {
  for (const retry of [-1, 1.5, NaN, Infinity, -Infinity, 2 ** 53]) {
    assert.throws(() => formatEvent({ retry, data: "x" }), RangeError);
  }
  assert.equal(formatEvent({ retry: 0, data: "x" }), "retry: 0\ndata: x\n\n");
});

Deno.test("formatEvent() output is exactly one event for a spec-compliant parser", () => {
  const message: ServerSentEvent = {
    event: "chat",
    id: "1796036663796-0-abc123",
    data: '{"message":"a\\nb"}',
  };
  const { events, retries, comments } = parse(formatEvent(message));
  assert.deepEqual(events, [{
    event: "chat",
    id: "1796036663796-0-abc123",
    data: '{"message":"a\\nb"}',
  }]);
  assert.deepEqual(retries, []);
  assert.deepEqual(comments, []);
});

Deno.test("formatComment() writes a bare colon for an empty comment", () => {
  assert.equal(formatComment(), ":\n\n");
  assert.equal(formatComment(""), ":\n\n");
});

Deno.test("formatComment() writes one comment line", () => {
  assert.equal(formatComment("keep-alive"), ": keep-alive\n\n");
});

Deno.test("formatComment() turns every line of the text into a comment line", () => {
  const text = "a\nretry: 1\r\nid: 9\revent: x\n\ndata: y";
  assert.equal(
    formatComment(text),
    ": a\n: retry: 1\n: id: 9\n: event: x\n:\n: data: y\n\n",
  );
  const { events, retries, comments } = parse(formatComment(text));
  assert.deepEqual(events, []);
  assert.deepEqual(retries, []);
  assert.deepEqual(comments, [
    "a",
    "retry: 1",
    "id: 9",
    "event: x",
    "",
    "data: y",
  ]);
});

Deno.test("formatRetry() writes a retry field line with no blank line, to go inside the next block", () => {
  assert.equal(formatRetry(250), "retry: 250\n");
  assert.deepEqual(parse(formatRetry(250)), {
    events: [],
    retries: [250],
    comments: [],
  });
});

Deno.test("formatRetry() throws a RangeError on a negative or fractional delay", () => {
  assert.throws(() => formatRetry(-1), RangeError);
  assert.throws(() => formatRetry(0.5), RangeError);
});
