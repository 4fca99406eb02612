/**
 * @module herald's metrics in the Prometheus text exposition format 0.0.4:
 * a small writer (families with HELP and TYPE, escaped label values) and the
 * series. A scrape reaches one isolate of a `start:parallel` process:
 * gauges of that isolate carry an `isolate` label; counters have none, being
 * summed across isolates from the counters each one sends with its presence
 * message (so a peer's share is up to one presence period, 1 s, old);
 * `herald_streams_all` and `herald_isolates` are the presence totals, as in
 * `GET /stats`. Web-only.
 */
import type { DeliveryCounts } from "./bus.ts";
import type { HistoryCounts } from "./history.ts";
import type { HubStats } from "./hub.ts";

/** Counts of POST /message answers by HTTP status, for this isolate. */
export class PublishCounts {
  readonly #byStatus = new Map<number, number>();

  /** Counts one answer with `status`. */
  count(status: number): void {
    this.#byStatus.set(status, (this.#byStatus.get(status) ?? 0) + 1);
  }

  /** Status and count pairs, by status. */
  entries(): Array<[number, number]> {
    return [...this.#byStatus.entries()].sort((a, b) => a[0] - b[0]);
  }
}

/** What {@linkcode renderMetrics} writes. */
export interface MetricsInput {
  /** The hub's counts (`GET /stats`). */
  readonly stats: HubStats;
  /** The hub's counters summed across isolates (`Hub.totals()`). */
  readonly totals: Readonly<Record<string, number>>;
  /** This isolate's history, when it can tell what it holds. */
  readonly history?: HistoryCounts | undefined;
  /** The bus's delivery counts, when it has them. */
  readonly delivery?: DeliveryCounts | undefined;
  /** Whether the hub takes publishes now (`GET /readyz`). */
  readonly ready: boolean;
}

/** Counters summed across isolates: series name, `Hub.counters()` key, help. */
const SUMMED: ReadonlyArray<readonly [string, string, string]> = [
  ["herald_events_published_total", "published", "Events the engine accepted."],
  [
    "herald_events_received_total",
    "received",
    "Events the isolates received from the bus (each isolate receives each event).",
  ],
  [
    "herald_event_deliveries_total",
    "delivered",
    "Events queued to streams, live and replayed (one per event and stream).",
  ],
  [
    "herald_stream_bytes_written_total",
    "bytes",
    "Bytes queued to streams: events, heartbeats, updates and system events.",
  ],
  [
    "herald_replays_total",
    "replays",
    "Streams that reconnected with Last-Event-ID and got a replay.",
  ],
  [
    "herald_slow_readers_cut_total",
    "dropped",
    "Streams cut off because their reader fell behind.",
  ],
  [
    "herald_late_events_total",
    "late",
    "Events delivered out of order because their sender went silent.",
  ],
  [
    "herald_engine_unavailable_total",
    "engineRefusals",
    "Publishes the engine refused because it was unavailable (answered 503).",
  ],
  [
    "herald_history_evictions_total",
    "evictions",
    "Events the in-memory history dropped to stay within its size or bytes.",
  ],
];

/** The `Hub.counters()` keys of one prefix (`reset:`, `status:`) as label and value. */
function keyed(
  totals: Readonly<Record<string, number>>,
  prefix: string,
): Array<[string, number]> {
  return Object.entries(totals)
    .filter(([key]) => key.startsWith(prefix))
    .map(([key, value]): [string, number] => [key.slice(prefix.length), value])
    .sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
}

type Labels = Readonly<Record<string, string>>;

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll(
    "\n",
    "\\n",
  );
}

function sample(name: string, labels: Labels, value: number): string {
  const pairs = Object.entries(labels).map(([k, v]) =>
    `${k}="${escapeLabel(v)}"`
  );
  const text = Number.isFinite(value) ? String(value) : "NaN";
  return pairs.length === 0
    ? `${name} ${text}`
    : `${name}{${pairs.join(",")}} ${text}`;
}

function family(
  name: string,
  type: "counter" | "gauge" | "summary",
  help: string,
  samples: ReadonlyArray<readonly [Labels, number]>,
): string[] {
  return [
    `# HELP ${name} ${help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n")}`,
    `# TYPE ${name} ${type}`,
    ...samples.map(([labels, value]) => sample(name, labels, value)),
  ];
}

/** The media type of the text format 0.0.4. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Writes the metrics of one isolate in the text format 0.0.4. */
export function renderMetrics(input: MetricsInput): string {
  const { stats } = input;
  const own: Labels = { isolate: stats.isolate ?? "" };
  const lines = [
    ...family(
      "herald_streams",
      "gauge",
      "Streams open on this isolate (/events and /.well-known/mercure).",
      [[own, stats.localClients]],
    ),
    ...family(
      "herald_mercure_streams",
      "gauge",
      "Of those, the streams of /.well-known/mercure.",
      [[own, stats.mercureClients]],
    ),
    ...family(
      "herald_streams_all",
      "gauge",
      "Streams open across every isolate the bus can see.",
      [[{}, stats.clients]],
    ),
    ...family("herald_isolates", "gauge", "Isolates the bus can see.", [[
      {},
      stats.isolates,
    ]]),
    ...family(
      "herald_topics",
      "gauge",
      "Topics followed by at least one stream on this isolate.",
      [[own, stats.topics]],
    ),
    ...family(
      "herald_ready",
      "gauge",
      "1 while this isolate takes publishes (GET /readyz), else 0.",
      [[own, input.ready ? 1 : 0]],
    ),
  ];
  const totals = input.totals;
  for (const [name, key, help] of SUMMED) {
    lines.push(...family(name, "counter", help, [[{}, totals[key] ?? 0]]));
  }
  lines.push(
    ...family(
      "herald_resets_total",
      "counter",
      "Resets told to clients, by reason: one per replay that misses events, one per bus loss.",
      keyed(totals, "reset:").map(([reason, n]) => [{ reason }, n]),
    ),
    ...family(
      "herald_publishes_total",
      "counter",
      "POST /message answers, by HTTP status.",
      keyed(totals, "status:").map(([status, n]) => [{ status }, n]),
    ),
    ...family(
      "herald_publish_duration_seconds",
      "summary",
      "Time the engine took to accept or refuse a publish.",
      [],
    ),
    sample(
      "herald_publish_duration_seconds_sum",
      {},
      (totals.publishMs ?? 0) / 1000,
    ),
    sample(
      "herald_publish_duration_seconds_count",
      {},
      totals.publishCount ?? 0,
    ),
  );
  const history = input.history;
  if (history !== undefined) {
    lines.push(
      ...family(
        "herald_history_bytes",
        "gauge",
        "Approximate bytes the in-memory history of this isolate holds.",
        [[own, history.bytes]],
      ),
      ...family(
        "herald_history_topics",
        "gauge",
        "Topics with retained events in this isolate's history.",
        [[own, history.topics]],
      ),
    );
  }
  const delivery = input.delivery;
  if (delivery !== undefined) {
    const parts = [
      [
        "frames_sent",
        "Data frames this isolate posted to the others.",
        delivery.framesSent,
      ],
      [
        "nacks_sent",
        "Gaps this isolate asked the others to fill.",
        delivery.nacksSent,
      ],
      [
        "frames_resent",
        "Frames this isolate posted again on request.",
        delivery.framesResent,
      ],
      ["losses", "Times this isolate gave frames up as lost.", delivery.losses],
      [
        "stalls",
        "Times the window was full and sends waited.",
        delivery.stalls,
      ],
    ] as const;
    for (const [name, help, value] of parts) {
      lines.push(
        ...family(`herald_bus_${name}_total`, "counter", help, [[own, value]]),
      );
    }
  }
  return lines.join("\n") + "\n";
}
