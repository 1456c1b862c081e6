/**
 * Benchmark settings from the environment, read once.
 *   BENCH_DURATION       seconds per measured load phase (default 8)
 *   BENCH_QUICK=1        a ~30 s smoke run: short phases, fewer samples, fewer streams
 *   BENCH_DATABASE_URL   also run the database scenarios on a fresh PostgreSQL database
 */
export interface Settings {
  quick: boolean;
  /** Seconds per measured autocannon phase. */
  durationS: number;
  /** Seconds of warm-up load per target before it is measured (same for baselines and us). */
  warmupS: number;
  /** Load-phase concurrencies: throughput and single-client latency. */
  highConcurrency: number;
  lowConcurrency: number;
  startupRuns: number;
  ttftRequests: number;
  ttftWarmup: number;
  streams: number;
  /** Per-stream deadline in the concurrent-streams scenario. */
  streamTimeoutMs: number;
  postgresUrl: string | undefined;
}

function positiveNumber(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || value > 120) {
    throw new Error(`${name} must be a number of seconds from 0 to 120, got "${text}"`);
  }
  return value;
}

export function loadSettings(): Settings {
  const quick = ['1', 'true', 'yes'].includes((process.env.BENCH_QUICK ?? '').toLowerCase());
  const durationS = positiveNumber('BENCH_DURATION', quick ? 1 : 8);
  return {
    quick,
    durationS,
    warmupS: quick ? 0.5 : Math.min(2, durationS),
    highConcurrency: 32,
    lowConcurrency: 1,
    startupRuns: quick ? 2 : 5,
    ttftRequests: quick ? 30 : 200,
    ttftWarmup: quick ? 5 : 20,
    streams: quick ? 200 : 2000,
    streamTimeoutMs: 60_000,
    postgresUrl: process.env.BENCH_DATABASE_URL?.trim() || undefined,
  };
}
