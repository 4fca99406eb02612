/** divertStream(): a subscriber's bytes moved from its ReadableStream to a server's socket sink. */
import assert from "node:assert/strict";
import {
  divertStream,
  type StreamSink,
  Subscriber,
  subscriberOf,
} from "../lib/subscriber.ts";

class RecordingSink implements StreamSink {
  readonly written: string[] = [];
  queuedBytes = 0;
  closed = false;
  aborted = false;
  write(bytes: Uint8Array): void {
    this.written.push(new TextDecoder().decode(bytes));
  }
  close(): void {
    this.closed = true;
  }
  abort(): void {
    this.aborted = true;
  }
}

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("divertStream() waits until the queued chunks are read, then sends every later write to the sink in order", async () => {
  const subscriber = new Subscriber(["chat"]);
  subscriber.write(bytes("a"));
  subscriber.write(bytes("b"));
  const sink = new RecordingSink();
  const reader = subscriber.stream.getReader();
  const read: string[] = [];
  while (divertStream(subscriber.stream, sink) === "queued") {
    const { value } = await reader.read();
    read.push(new TextDecoder().decode(value));
  }
  assert.deepEqual(read, ["a", "b"]);
  assert.equal(subscriberOf(subscriber.stream), subscriber);
  subscriber.write(bytes("c"));
  subscriber.deliver({ ms: 1, seq: 0, instance: "x" }, bytes("d"));
  assert.deepEqual(sink.written, ["c", "d"]);
  subscriber.end(bytes("bye"));
  assert.deepEqual(sink.written, ["c", "d", "bye"]);
  assert.ok(sink.closed && subscriber.ended);
  await reader.cancel();
});

Deno.test("divertStream() cuts a slow reader off when the sink holds more than maxQueuedBytes", async () => {
  const ends: string[] = [];
  const subscriber = new Subscriber(["chat"], {
    maxQueuedBytes: 10,
    onEnd: (_s, reason) => ends.push(reason),
  });
  const sink = new RecordingSink();
  assert.equal(divertStream(subscriber.stream, sink), "diverted");
  sink.queuedBytes = 8;
  assert.equal(subscriber.fits(2), true);
  assert.equal(subscriber.fits(3), false);
  subscriber.write(bytes("x"));
  assert.equal(sink.aborted, false);
  sink.queuedBytes = 11;
  subscriber.write(bytes("y"));
  assert.equal(sink.aborted, true);
  assert.deepEqual(ends, ["overflow"]);
  subscriber.write(bytes("z"));
  assert.deepEqual(sink.written, ["x", "y"]);
  await subscriber.stream.cancel();
});

Deno.test("divertStream() says no to a stream that is not a subscriber's, or has ended", async () => {
  const sink = new RecordingSink();
  const other = new ReadableStream<Uint8Array>();
  assert.equal(divertStream(other, sink), "no");
  const subscriber = new Subscriber(["chat"]);
  await subscriber.stream.cancel();
  assert.equal(divertStream(subscriber.stream, sink), "no");
});
