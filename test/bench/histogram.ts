/**
 * A fixed-bucket latency histogram in microseconds: 10 µs buckets up to 100 ms, 1 ms buckets up
 * to 30 s, one overflow bucket above. Cheap enough to record every delivery, and mergeable across
 * worker processes by adding the bucket arrays.
 */

/** 10 µs resolution keeps a 1–10 ms p99 exact to well under 1 %; beyond 100 ms, 1 ms is plenty. */
const FINE_US = 10;
const FINE_BUCKETS = 10_000;
const COARSE_US = 1_000;
const FINE_LIMIT_US = FINE_US * FINE_BUCKETS;
const BUCKETS = FINE_BUCKETS + (30_000_000 - FINE_LIMIT_US) / COARSE_US;

function bucketOf(us: number): number {
  if (us < FINE_LIMIT_US) return Math.floor(us / FINE_US);
  return Math.min(FINE_BUCKETS + Math.floor((us - FINE_LIMIT_US) / COARSE_US), BUCKETS);
}

function upperEdgeUs(bucket: number): number {
  if (bucket < FINE_BUCKETS) return (bucket + 1) * FINE_US;
  return FINE_LIMIT_US + (bucket - FINE_BUCKETS + 1) * COARSE_US;
}

export interface HistogramData {
  readonly buckets: number[];
  readonly count: number;
  readonly sumUs: number;
  readonly maxUs: number;
}

export interface LatencySummary {
  readonly count: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

export class Histogram {
  private readonly buckets = new Uint32Array(BUCKETS + 1);
  private count = 0;
  private sumUs = 0;
  private maxUs = 0;

  record(us: number): void {
    const value = Math.max(us, 0);
    const i = bucketOf(value);
    this.buckets[i] = (this.buckets[i] ?? 0) + 1;
    this.count++;
    this.sumUs += value;
    if (value > this.maxUs) this.maxUs = value;
  }

  reset(): void {
    this.buckets.fill(0);
    this.count = 0;
    this.sumUs = 0;
    this.maxUs = 0;
  }

  toJSON(): HistogramData {
    return { buckets: Array.from(this.buckets), count: this.count, sumUs: this.sumUs, maxUs: this.maxUs };
  }
}

export function mergeHistograms(parts: readonly HistogramData[]): HistogramData {
  const buckets = new Array<number>(BUCKETS + 1).fill(0);
  let count = 0;
  let sumUs = 0;
  let maxUs = 0;
  for (const part of parts) {
    part.buckets.forEach((n, i) => {
      buckets[i] = (buckets[i] ?? 0) + n;
    });
    count += part.count;
    sumUs += part.sumUs;
    maxUs = Math.max(maxUs, part.maxUs);
  }
  return { buckets, count, sumUs, maxUs };
}

/** The upper edge of the bucket holding quantile q (the overflow bucket reports the maximum). */
function quantileUs(h: HistogramData, q: number): number {
  if (h.count === 0) return Number.NaN;
  const rank = Math.ceil(q * h.count);
  let seen = 0;
  for (let i = 0; i < h.buckets.length; i++) {
    seen += h.buckets[i] ?? 0;
    if (seen >= rank) return i >= BUCKETS ? h.maxUs : Math.min(upperEdgeUs(i), h.maxUs);
  }
  return h.maxUs;
}

export function summarize(h: HistogramData): LatencySummary {
  const ms = (us: number): number => us / 1000;
  return {
    count: h.count,
    meanMs: h.count === 0 ? Number.NaN : ms(h.sumUs / h.count),
    p50Ms: ms(quantileUs(h, 0.5)),
    p90Ms: ms(quantileUs(h, 0.9)),
    p99Ms: ms(quantileUs(h, 0.99)),
    p999Ms: ms(quantileUs(h, 0.999)),
    maxMs: h.count === 0 ? Number.NaN : ms(h.maxUs),
  };
}
