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
  metrics: Array<{ value: string; labels?: Record<string, string> }>;
}

/** Parses a scrape strictly: every sample in a typed family, every value a number. */
function parse(text: string): Map<string, Family> {
  const families = (parsePrometheus as (text: string) => Family[])(text);
  const byName = new Map<string, Family>();
  for (const family of families) {
    assert.ok(
      family.type === "COUNTER" || family.type === "GAUGE",
      `${family.name} has no TYPE line of its own`,
    );
    assert.notEqual(family.help, "", `${family.name} has no HELP`);
    for (const metric of family.metrics) {
      assert.ok(Number.isFinite(Number(metric.value)), metric.value);
    }
    byName.set(family.name, family);
  }
  // The lenient parser accepts lines it cannot read; count lines as well.
  const samples = text.split("\n").filter((l) =>
    l !== "" && !l.startsWith("#")
  );
  const parsed = families.reduce((n, f) => n + f.metrics.length, 0);
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
  init?: RequestInit,
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
    assert.equal(value(after, "herald_events_received_total", { isolate }), 1);
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
