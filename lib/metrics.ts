/**
 * @module herald's metrics in the Prometheus text exposition format 0.0.4:
 * a small writer (families with HELP and TYPE, escaped label values) and the
 * counts of one isolate. Series carry an `isolate` label, since a scrape
 * reaches one isolate of a `deno serve --parallel` process: each isolate's
 * counters are its own; `herald_streams_all` and `herald_isolates` are the
 * totals the bus's presence sums, as in `GET /stats`. Web-only.
 */
import type { DeliveryCounts } from "./bus.ts";
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
  /** POST /message answers by status. */
  readonly publishes: PublishCounts;
  /** The bus's delivery counts, when it has them. */
  readonly delivery?: DeliveryCounts | undefined;
  /** Whether the hub takes publishes now (`GET /readyz`). */
  readonly ready: boolean;
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
  type: "counter" | "gauge",
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
    ...family("herald_streams", "gauge", "Streams open on this isolate.", [[
      own,
      stats.localClients,
    ]]),
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
    ...family(
      "herald_events_received_total",
      "counter",
      "Events this isolate received from the bus.",
      [[own, stats.events]],
    ),
    ...family(
      "herald_slow_readers_cut_total",
      "counter",
      "Streams cut off because their reader fell behind.",
      [[own, stats.dropped]],
    ),
    ...family(
      "herald_late_events_total",
      "counter",
      "Events delivered out of order because their sender went silent.",
      [[own, stats.late]],
    ),
    ...family(
      "herald_resets_total",
      "counter",
      "Times the bus lost events for good and told the streams with a reset.",
      [[own, stats.losses]],
    ),
    ...family(
      "herald_publishes_total",
      "counter",
      "POST /message answers of this isolate, by HTTP status.",
      input.publishes.entries().map(([status, count]) => [
        { ...own, status: String(status) },
        count,
      ]),
    ),
  ];
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
