/**
 * Log-bucketed latency histogram (about 1 % relative precision) that can be merged across processes.
 * Values are recorded in microseconds; buckets are kept as a sparse map so they cross the IPC channel cheaply.
 */
const GROWTH = Math.log(1.01);

export class Histogram {
  private readonly buckets = new Map<number, number>();
  count = 0;
  max = 0;
  min = Number.POSITIVE_INFINITY;
  sum = 0;

  record(us: number): void {
    const v = us < 1 ? 1 : us;
    const idx = Math.floor(Math.log(v) / GROWTH);
    this.buckets.set(idx, (this.buckets.get(idx) ?? 0) + 1);
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
    if (v < this.min) this.min = v;
  }

  reset(): void {
    this.buckets.clear();
    this.count = 0;
    this.max = 0;
    this.min = Number.POSITIVE_INFINITY;
    this.sum = 0;
  }

  toJSON(): HistogramData {
    return { buckets: [...this.buckets.entries()], count: this.count, max: this.max, min: this.min, sum: this.sum };
  }

  merge(d: HistogramData): void {
    for (const [idx, n] of d.buckets) this.buckets.set(idx, (this.buckets.get(idx) ?? 0) + n);
    this.count += d.count;
    this.sum += d.sum;
    if (d.max > this.max) this.max = d.max;
    if (d.count > 0 && d.min < this.min) this.min = d.min;
  }

  /** Value at quantile q (0..1), in microseconds; the upper bound of the bucket it falls in, capped at max. */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN;
    const target = Math.max(1, Math.ceil(q * this.count));
    const sorted = [...this.buckets.entries()].sort((a, b) => a[0] - b[0]);
    let seen = 0;
    for (const [idx, n] of sorted) {
      seen += n;
      if (seen >= target) return Math.min(Math.exp((idx + 1) * GROWTH), this.max);
    }
    return this.max;
  }
}

export interface HistogramData {
  buckets: [number, number][];
  count: number;
  max: number;
  min: number;
  sum: number;
}
