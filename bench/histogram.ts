/**
 * @module A latency histogram with about 0.8 % relative precision (HDR-style:
 * 128 linear sub-buckets per power of two), in whole microseconds. Recording
 * is one `Math.clz32`, a shift and an increment; histograms from several
 * workers merge by adding their counts.
 */

const SUB_BITS = 7;
const SUB = 1 << SUB_BITS; // 128
const LINEAR = SUB * 2; // values below 256 µs are exact
const BUCKETS = LINEAR + 24 * SUB; // up to 2^31 µs (about 35 minutes)

function bucketOf(us: number): number {
  if (us < LINEAR) return us < 0 ? 0 : us;
  const v = us >= 0x7fffffff ? 0x7fffffff : us;
  const shift = 31 - Math.clz32(v) - SUB_BITS;
  return LINEAR + (shift - 1) * SUB + ((v >>> shift) - SUB);
}

function bucketMiddle(index: number): number {
  if (index < LINEAR) return index;
  const shift = ((index - LINEAR) >>> SUB_BITS) + 1;
  const mantissa = ((index - LINEAR) & (SUB - 1)) + SUB;
  return (mantissa << shift) + (1 << (shift - 1));
}

/** Counts of latencies in microseconds; see the module doc for precision. */
export class LatencyHistogram {
  /** Counts per bucket (exposed so a worker can post them). */
  readonly counts: Uint32Array;
  #count = 0;
  #max = 0;
  #sum = 0;

  /** Makes an empty histogram, or one holding the given counts. */
  constructor(counts?: Uint32Array, max = 0) {
    this.counts = counts ?? new Uint32Array(BUCKETS);
    if (counts) {
      for (let i = 0; i < counts.length; i++) {
        const c = counts[i]!;
        this.#count += c;
        this.#sum += c * bucketMiddle(i);
      }
    }
    this.#max = max;
  }

  /** Records one latency in microseconds (negative values count as 0). */
  record(us: number): void {
    const whole = us > 0 ? Math.round(us) : 0;
    this.counts[bucketOf(whole)]!++;
    this.#count++;
    this.#sum += whole;
    if (whole > this.#max) this.#max = whole;
  }

  /** Adds another histogram's counts into this one. */
  merge(other: LatencyHistogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.#count += other.count;
    this.#sum += other.mean * other.count;
    if (other.max > this.#max) this.#max = other.max;
  }

  /** How many values were recorded. */
  get count(): number {
    return this.#count;
  }

  /** The largest value recorded, exact, in microseconds. */
  get max(): number {
    return this.#max;
  }

  /** The mean in microseconds (0 when empty). */
  get mean(): number {
    return this.#count === 0 ? 0 : this.#sum / this.#count;
  }

  /**
   * The value at quantile `q` (0..1) in microseconds, as the middle of its
   * bucket, never above the exact maximum. 0 when empty.
   */
  quantile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(bucketMiddle(i), this.#max);
    }
    return this.#max;
  }
}
