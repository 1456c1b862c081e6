/** Small statistics helpers with bounded memory. */

/** Percentile (0..100) of already sorted values, nearest-rank. NaN when empty. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function summarize(values: readonly number[]): { n: number; min: number; p50: number; p99: number; max: number } {
  const sorted = Float64Array.from(values).sort();
  return {
    n: sorted.length,
    min: sorted.length ? sorted[0]! : Number.NaN,
    p50: percentileSorted(sorted, 50),
    p99: percentileSorted(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
  };
}

/**
 * Keeps a uniform random sample of at most `capacity` values (Vitter's algorithm R),
 * so percentiles of a long, fast run cost a fixed amount of memory: exact while the
 * run has fewer values than the capacity, a close estimate beyond it.
 */
export class Reservoir {
  private readonly values: Float64Array;
  private seen = 0;

  constructor(private readonly capacity = 200_000) {
    this.values = new Float64Array(capacity);
  }

  add(value: number): void {
    if (this.seen < this.capacity) {
      this.values[this.seen] = value;
    } else {
      const slot = Math.floor(Math.random() * (this.seen + 1));
      if (slot < this.capacity) this.values[slot] = value;
    }
    this.seen++;
  }

  get count(): number {
    return this.seen;
  }

  percentiles(...ps: number[]): number[] {
    const sorted = this.values.slice(0, Math.min(this.seen, this.capacity)).sort();
    return ps.map((p) => percentileSorted(sorted, p));
  }
}
