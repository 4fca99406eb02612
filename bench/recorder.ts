/**
 * @module Delivery bookkeeping for one publishing phase: which stream got
 * which message how often, and how late. Messages carry `~<sent µs>:<seq>~`
 * somewhere in their data; `seq` is global across phases, so a phase is a
 * window `[firstSeq, firstSeq + count)` and anything outside it is counted as
 * stray (a late delivery from an earlier phase).
 */
import { LatencyHistogram } from "./histogram.ts";

/** What one phase delivered, in a form that can cross `postMessage`. */
export interface PhaseTally {
  /** Streams this tally covers. */
  streams: number;
  /** Messages in the phase. */
  messages: number;
  /** First deliveries (distinct stream × message pairs). */
  received: number;
  /** Deliveries of a pair already received. */
  duplicates: number;
  /** Deliveries whose seq lies outside the phase window. */
  stray: number;
  /** Histogram bucket counts of first-delivery latency, µs. */
  counts: Uint32Array;
  /** Exact largest latency, µs. */
  maxUs: number;
  /** Epoch ms of the first and last first-delivery (0 when none). */
  firstAt: number;
  /** See firstAt. */
  lastAt: number;
}

/** Records deliveries for `streams` streams × `messages` messages. */
export class DeliveryRecorder {
  readonly streams: number;
  readonly firstSeq: number;
  readonly messages: number;
  readonly histogram: LatencyHistogram = new LatencyHistogram();
  #seen: Uint8Array;
  received = 0;
  duplicates = 0;
  stray = 0;
  firstAt = 0;
  lastAt = 0;

  /** A recorder for the window `[firstSeq, firstSeq + messages)`. */
  constructor(streams: number, firstSeq: number, messages: number) {
    this.streams = streams;
    this.firstSeq = firstSeq;
    this.messages = messages;
    this.#seen = new Uint8Array(streams * messages);
  }

  /** One event carrying `seq`, sent at `sentUs`, read at `nowMs` (epoch). */
  record(stream: number, seq: number, sentUs: number, nowMs: number): void {
    const k = seq - this.firstSeq;
    if (k < 0 || k >= this.messages || stream >= this.streams) {
      this.stray++;
      return;
    }
    const slot = stream * this.messages + k;
    if (this.#seen[slot] !== 0) {
      this.duplicates++;
      return;
    }
    this.#seen[slot] = 1;
    this.received++;
    this.histogram.record(nowMs * 1000 - sentUs);
    if (this.firstAt === 0) this.firstAt = nowMs;
    this.lastAt = nowMs;
  }

  /** The phase so far as a plain object. */
  tally(): PhaseTally {
    return {
      streams: this.streams,
      messages: this.messages,
      received: this.received,
      duplicates: this.duplicates,
      stray: this.stray,
      counts: this.histogram.counts.slice(),
      maxUs: this.histogram.max,
      firstAt: this.firstAt,
      lastAt: this.lastAt,
    };
  }
}

/** Adds tallies from several stream groups into one. */
export function mergeTallies(tallies: PhaseTally[]): PhaseTally {
  const out: PhaseTally = {
    streams: 0,
    messages: tallies[0]?.messages ?? 0,
    received: 0,
    duplicates: 0,
    stray: 0,
    counts: new Uint32Array(new LatencyHistogram().counts.length),
    maxUs: 0,
    firstAt: 0,
    lastAt: 0,
  };
  for (const t of tallies) {
    out.streams += t.streams;
    out.received += t.received;
    out.duplicates += t.duplicates;
    out.stray += t.stray;
    for (let i = 0; i < t.counts.length; i++) out.counts[i]! += t.counts[i]!;
    out.maxUs = Math.max(out.maxUs, t.maxUs);
    if (t.firstAt !== 0 && (out.firstAt === 0 || t.firstAt < out.firstAt)) {
      out.firstAt = t.firstAt;
    }
    out.lastAt = Math.max(out.lastAt, t.lastAt);
  }
  return out;
}
