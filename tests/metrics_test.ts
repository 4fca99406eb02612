/** GET /metrics over the real process, read by a Prometheus text-format parser, with values that move. */
import assert from "node:assert/strict";
import parsePrometheus from "parse-prometheus-text-format";
import { startHerald } from "./_process.ts";
import { eventually } from "./_server.ts";
import { SseClient } from "./_sse_client.ts";

interface Family {
  name: string;
  help: string;
  type: string;
  metrics: Array<
    {
      value?: string;
      count?: string;
      sum?: string;
      labels?: Record<string, string>;
    }
  >;
}

/** Parses a scrape strictly: every sample in a typed family, every value a number. */
function parse(text: string): Map<string, Family> {
  const families = (parsePrometheus as (text: string) => Family[])(text);
  const byName = new Map<string, Family>();
  for (const family of families) {
    assert.ok(
      ["COUNTER", "GAUGE", "SUMMARY"].includes(family.type),
      `${family.name} has no TYPE line of its own`,
    );
    assert.notEqual(family.help, "", `${family.name} has no HELP`);
    for (const metric of family.metrics) {
      const numbers = family.type === "SUMMARY"
        ? [metric.count, metric.sum]
        : [metric.value];
      for (const n of numbers) assert.ok(Number.isFinite(Number(n)), n);
    }
    assert.equal(
      text.split("\n").filter((l) => l.startsWith(`# TYPE ${family.name} `))
        .length,
      1,
      `${family.name} has one TYPE line`,
    );
    byName.set(family.name, family);
  }
  // The lenient parser accepts lines it cannot read; count lines as well.
  const samples = text.split("\n").filter((l) =>
    l !== "" && !l.startsWith("#")
  );
  // A summary without quantiles is two lines: _sum and _count.
  const parsed = families.reduce(
    (n, f) => n + f.metrics.length * (f.type === "SUMMARY" ? 2 : 1),
    0,
  );
  assert.equal(parsed, samples.length, text);
  return byName;
}

function value(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const family = families.get(name);
  assert.ok(family !== undefined, `no ${name}`);
  const metric = family.metrics.find((m) =>
    Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)
  );
  assert.ok(metric !== undefined, `no ${name} ${JSON.stringify(labels)}`);
  return Number(metric.value);
}

async function scrape(
  url: string,
  init?: RequestInit & { client?: Deno.HttpClient },
): Promise<Map<string, Family>> {
  const response = await fetch(`${url}/metrics`, init);
  assert.equal(response.status, 200);
  assert.equal(
    response.headers.get("content-type"),
    "text/plain; version=0.0.4; charset=utf-8",
  );
  return parse(await response.text());
}

Deno.test("GET /metrics counts streams, events and publishes by status as they move", async () => {
  await using herald = await startHerald();
  const before = await scrape(herald.url);
  assert.equal(value(before, "herald_streams_all"), 0);
  assert.equal(value(before, "herald_isolates"), 1);
  assert.equal(value(before, "herald_ready"), 1);
  assert.equal(value(before, "herald_events_received_total"), 0);

  const clients = await Promise.all(
    [0, 1, 2].map(() => SseClient.open(`${herald.url}/events?topic=m`)),
  );
  try {
    const accepted = await fetch(`${herald.url}/message`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: "m", message: "hello" }),
    });
    assert.equal(accepted.status, 202);
    await accepted.body?.cancel();
    const refused = await fetch(`${herald.url}/message`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    assert.equal(refused.status, 400);
    await refused.body?.cancel();
    for (const client of clients) {
      await client.waitFor((event) => event.data.includes("hello"));
    }
    await eventually(
      async () => value(await scrape(herald.url), "herald_streams_all") === 3,
      5000,
      "three streams in herald_streams_all",
    );
    const after = await scrape(herald.url);
    const isolate = after.get("herald_streams")!.metrics[0]!.labels!.isolate!;
    assert.ok(isolate.length > 0);
    assert.equal(value(after, "herald_streams", { isolate }), 3);
    assert.equal(value(after, "herald_topics", { isolate }), 1);
    assert.equal(value(after, "herald_events_received_total"), 1);
    assert.equal(value(after, "herald_events_published_total"), 1);
    assert.equal(value(after, "herald_event_deliveries_total"), 3);
    assert.ok(
      value(after, "herald_stream_bytes_written_total") >
        value(before, "herald_stream_bytes_written_total"),
    );
    assert.equal(value(after, "herald_history_topics", { isolate }), 1);
    assert.ok(value(after, "herald_history_bytes", { isolate }) > 0);
    assert.equal(
      after.get("herald_publish_duration_seconds")!.metrics[0]!.count,
      "1",
    );
    assert.equal(value(after, "herald_publishes_total", { status: "202" }), 1);
    assert.equal(value(after, "herald_publishes_total", { status: "400" }), 1);
    assert.equal(value(after, "herald_slow_readers_cut_total"), 0);
    assert.ok(after.has("herald_bus_frames_sent_total"));
  } finally {
    for (const client of clients) await client.close();
  }
});

Deno.test("GET /metrics needs the bearer token when METRICS_TOKEN is set", async () => {
  await using herald = await startHerald({ env: { METRICS_TOKEN: "m-t0ken" } });
  const refused = await fetch(`${herald.url}/metrics`);
  assert.equal(refused.status, 401);
  await refused.body?.cancel();
  const wrong = await fetch(`${herald.url}/metrics`, {
    headers: { authorization: "Bearer nope" },
  });
  assert.equal(wrong.status, 401);
  await wrong.body?.cancel();
  const families = await scrape(herald.url, {
    headers: { authorization: "Bearer m-t0ken" },
  });
  assert.equal(value(families, "herald_isolates"), 1);
});

Deno.test("GET /metrics counts replays and resets by reason, and history evictions", async () => {
  await using herald = await startHerald({ env: { HISTORY_SIZE: "1" } });
  for (const message of ["one", "two"]) {
    const response = await fetch(`${herald.url}/message`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: "r", message }),
    });
    assert.equal(response.status, 202);
    await response.body?.cancel();
  }
  // The first event is evicted, so a replay from before it is a reset.
  const client = await SseClient.open(`${herald.url}/events?topic=r`, {
    headers: { "last-event-id": "1-0" },
  });
  try {
    await client.waitFor((event) => event.event === "reset");
    const families = await scrape(herald.url);
    assert.equal(value(families, "herald_replays_total"), 1);
    assert.equal(
      value(families, "herald_resets_total", { reason: "history-exceeded" }),
      1,
    );
    assert.equal(value(families, "herald_history_evictions_total"), 1);
  } finally {
    await client.close();
  }
});

Deno.test("GET /metrics sums counters across the isolates of start:parallel, whichever answers", async () => {
  await using herald = await startHerald({ jobs: 2 });
  // Fresh connections, which the kernel hands to either isolate.
  using client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  const published = 6;
  for (let i = 0; i < published; i++) {
    const response = await fetch(`${herald.url}/message`, {
      client,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: "p", message: `m${i}` }),
    });
    assert.equal(response.status, 202);
    await response.body?.cancel();
  }
  // Each scrape may reach either isolate; peers' shares arrive with their
  // next presence message (1 s), so wait until both isolates report the sum.
  const answered = new Map<string, number>();
  await eventually(
    async () => {
      const families = await scrape(herald.url, { client });
      const isolate = families.get("herald_streams")!.metrics[0]!.labels!
        .isolate!;
      answered.set(isolate, value(families, "herald_events_published_total"));
      assert.equal(value(families, "herald_isolates"), 2);
      return answered.size === 2 &&
        [...answered.values()].every((n) => n === published);
    },
    20000,
    "both isolates report every publish",
  );
  for (const [isolate, count] of answered) {
    assert.equal(count, published, `isolate ${isolate}`);
  }
});
