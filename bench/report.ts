/**
 * @module Printing and summarising: progress lines on stderr, medians over
 * repeated runs, and the Markdown tables of BENCHMARKS.md.
 */
import type { PhaseResult } from "./phase.ts";
import type { FastResult, WideResult } from "./scenarios.ts";

const encoder = new TextEncoder();

/** Writes one progress line to stderr. */
export function progress(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

/** Writes text to stdout. */
export function print(text: string): void {
  Deno.stdout.writeSync(
    encoder.encode(text.endsWith("\n") ? text : text + "\n"),
  );
}

/** The median of the numbers (NaN when empty). */
export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** Formats a number with thousands separators and `digits` decimals. */
export function num(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return "–";
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** A one-line summary of a phase, for progress output. */
export function phaseLine(p: PhaseResult): string {
  return `${p.streams} streams × ${p.messages} msgs @ ${p.rate}/s: ` +
    `${p.received}/${p.expected} received, lost ${p.lost}, dup ${p.duplicates}, ` +
    `p50 ${num(p.p50, 1)} p90 ${num(p.p90, 1)} p99 ${num(p.p99, 1)} max ${
      num(p.max, 1)
    } ms, ` +
    `${num(p.deliveriesPerSec)} deliveries/s, server ${
      num(p.serverCpuUsPerDelivery, 2)
    } µs/delivery, ` +
    (p.sidecarCpuMs > 0
      ? `redis ${num(p.sidecarCpuUsPerDelivery, 2)} µs/delivery, `
      : "") +
    `client ${num(p.clientCpuUsPerDelivery, 2)} µs/delivery, publish lag max ${
      num(p.publish.maxLagMs, 1)
    } ms, ` +
    `machine ${num(p.machine.busy, 2)} cores busy (user ${
      num(p.machine.user, 2)
    }, sys ${num(p.machine.system, 2)}, ` +
    `softirq ${num(p.machine.softirq, 2)}, steal ${
      num(p.machine.steal, 2)
    }, other processes ${num(p.machine.others, 2)})`;
}

/** The per-peer medians that make one row of the headline table. */
export interface Row {
  /** Peer name and label. */
  peer: string;
  /** See peer. */
  label: string;
  /** Runs the medians are over (wide, fast). */
  runs: [number, number];
  /** deliveries/s at N streams × rate. */
  wideDeliveriesPerSec: number;
  /** p99 there, ms. */
  wideP99: number;
  /** Lost and duplicated there (summed over runs). */
  wideLost: number;
  /** See wideLost. */
  wideDuplicates: number;
  /** Highest passing rate at 1,000 streams. */
  bestRate: number;
  /** Server CPU µs per delivery at 1,000 × 50. */
  cpuUsPerDelivery: number;
  /** Load generator CPU µs per delivery at 1,000 × 50. */
  clientUsPerDelivery: number;
  /** Helper (Redis) CPU µs per delivery at 1,000 × 50 (NaN: none). */
  sidecarUsPerDelivery: number;
  /** KiB per idle stream (RSS and Pss). */
  rssPerStreamKiB: number;
  /** See rssPerStreamKiB. */
  pssPerStreamKiB: number;
  /** Seconds to open all streams. */
  openSeconds: number;
  /** Server CPU per opened stream, µs. */
  openCpuUsPerStream: number;
  /** Highest load of other processes during a wide or CPU phase, cores. */
  noiseCores: number;
}

/** Medians over a peer's runs. */
export function summarise(
  peer: string,
  label: string,
  wide: WideResult[],
  fast: FastResult[],
): Row {
  return {
    peer,
    label,
    runs: [wide.length, fast.length],
    wideDeliveriesPerSec: median(wide.map((w) => w.phase.deliveriesPerSec)),
    wideP99: median(wide.map((w) => w.phase.p99)),
    wideLost: wide.reduce((a, w) => a + w.phase.lost, 0),
    wideDuplicates: wide.reduce((a, w) => a + w.phase.duplicates, 0),
    bestRate: median(fast.map((f) => f.bestRate)),
    cpuUsPerDelivery: median(fast.map((f) => f.cpu.serverCpuUsPerDelivery)),
    clientUsPerDelivery: median(fast.map((f) => f.cpu.clientCpuUsPerDelivery)),
    sidecarUsPerDelivery: median(
      fast.filter((f) => f.cpu.sidecarCpuMs > 0).map((f) =>
        f.cpu.sidecarCpuUsPerDelivery
      ),
    ),
    rssPerStreamKiB: median(wide.map((w) => w.rssPerStreamKiB)),
    pssPerStreamKiB: median(wide.map((w) => w.pssPerStreamKiB)),
    openSeconds: median(wide.map((w) => w.open.openMs / 1000)),
    openCpuUsPerStream: median(wide.map((w) => w.openCpuUsPerStream)),
    noiseCores: Math.max(
      0,
      ...wide.map((w) => w.phase.machine.others),
      ...fast.map((f) => f.cpu.machine.others),
    ),
  };
}

/** The headline table in the column order, one row per peer. */
export function headlineTable(
  rows: Row[],
  streams: number,
  rate: number,
): string {
  const k = num(streams);
  const lines = [
    `| server | deliveries/s, ${k} streams × ${rate} msg/s | p99 ms there | highest msg/s to 1,000 streams with p99 ≤ 100 ms | server CPU µs per delivery (1,000 × 50 msg/s) | RSS per idle stream | open ${k} streams |`,
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.label} (measured) | ${num(r.wideDeliveriesPerSec)} | ${
        num(r.wideP99)
      } | ${num(r.bestRate)} | ${num(r.cpuUsPerDelivery, 1)} | ${
        num(r.rssPerStreamKiB, 1)
      } KiB | ${num(r.openSeconds, 2)} s |`,
    );
  }
  return lines.join("\n");
}

/** The secondary table: loss, duplicates, Pss and the client's own cost. */
export function detailTable(rows: Row[]): string {
  const lines = [
    "| server | runs (wide, fast) | lost / duplicated at the wide run (all runs) | Pss per idle stream | server CPU µs per stream opened | load generator CPU µs per delivery (1,000 × 50) | Redis CPU µs per delivery (1,000 × 50) | other processes, most seen (cores) |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.label} | ${r.runs[0]}, ${r.runs[1]} | ${num(r.wideLost)} / ${
        num(r.wideDuplicates)
      } | ${num(r.pssPerStreamKiB, 1)} KiB | ${num(r.openCpuUsPerStream)} | ${
        num(r.clientUsPerDelivery, 2)
      } | ${num(r.sidecarUsPerDelivery, 2)} | ${num(r.noiseCores, 2)} |`,
    );
  }
  return lines.join("\n");
}
