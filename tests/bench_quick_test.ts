import assert from "node:assert/strict";
import { main } from "../bench/run.ts";
import { runQuick } from "../bench/scenarios.ts";
import { SseStreamParser, type StreamSink } from "../bench/sse_parser.ts";
import { LatencyHistogram } from "../bench/histogram.ts";

function recordingSink() {
  const deliveries: Array<[number, number, number]> = [];
  let other = 0;
  let status = 0;
  const sink: StreamSink = {
    established(_stream, s) {
      status = s;
    },
    delivery(stream, seq, sentUs) {
      deliveries.push([stream, seq, sentUs]);
    },
    otherEvent() {
      other++;
    },
  };
  return {
    sink,
    deliveries,
    get other() {
      return other;
    },
    get status() {
      return status;
    },
  };
}

function feedInPieces(parser: SseStreamParser, text: string, size: number) {
  const bytes = new TextEncoder().encode(text);
  for (let i = 0; i < bytes.length; i += size) {
    const piece = bytes.slice(i, i + size);
    parser.push(piece, piece.length, 0);
  }
}

function chunked(pieces: string[]): string {
  let out = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n" +
    "transfer-encoding: chunked\r\n\r\n";
  for (const piece of pieces) {
    const size = new TextEncoder().encode(piece).length.toString(16);
    out += `${size}\r\n${piece}\r\n`;
  }
  return out + "0\r\n\r\n";
}

const CHUNKED = chunked([
  'retry: 5000\nevent: system\ndata: {"message":"Welcome — é"}\n\n: keep-alive\n\n',
  "event: chat\nid: 1-0\ndata: ",
  '{"message":"~1700000000000000:7~","topic":"chat"}\n\n',
]);

Deno.test("SseStreamParser finds deliveries in a chunked body, whatever the read sizes", () => {
  for (const size of [1, 2, 3, 7, 64, 4096]) {
    const r = recordingSink();
    const parser = new SseStreamParser(3, r.sink);
    feedInPieces(parser, CHUNKED, size);
    assert.equal(r.status, 200, `read size ${size}`);
    assert.deepEqual(
      r.deliveries,
      [[3, 7, 1700000000000000]],
      `read size ${size}`,
    );
    assert.equal(r.other, 1, `read size ${size}`);
  }
});

Deno.test("SseStreamParser reads a body without chunked coding (nchan) and CRLF lines", () => {
  const r = recordingSink();
  const parser = new SseStreamParser(0, r.sink);
  feedInPieces(
    parser,
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n: hi\n\n" +
      'id: 1:0\r\ndata: {"message":"~5:1~"}\r\n\r\nid: 1:1\ndata: {"message":"~6:2~"}\n\n',
    5,
  );
  assert.deepEqual(r.deliveries, [[0, 1, 5], [0, 2, 6]]);
});

Deno.test("LatencyHistogram quantiles stay within 1 % of the exact values", () => {
  const h = new LatencyHistogram();
  const values: number[] = [];
  for (let i = 1; i <= 10000; i++) values.push(i * 37 % 100000 + 1);
  for (const v of values) h.record(v);
  values.sort((a, b) => a - b);
  for (const q of [0.5, 0.9, 0.99]) {
    const exact = values[Math.ceil(q * values.length) - 1]!;
    assert.ok(
      Math.abs(h.quantile(q) - exact) / exact < 0.01,
      `q ${q}: ${h.quantile(q)} vs ${exact}`,
    );
  }
  assert.equal(h.max, values.at(-1));
});

Deno.test("runQuick() delivers every message to every herald stream exactly once", async () => {
  const result = await runQuick({ streams: 100, messages: 100, rate: 200 });
  assert.deepEqual(result.problems, []);
  assert.equal(result.ok, true);
  assert.equal(result.phase.received, 100 * 100);
  assert.equal(result.phase.duplicates, 0);
});

Deno.test("deno task bench --quick exits 0 when every delivery arrives", async () => {
  const code = await main(["--quick", "--streams", "50", "--messages", "50"]);
  assert.equal(code, 0);
});
