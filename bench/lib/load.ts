/**
 * A thin wrapper around autocannon. Latency percentiles come from autocannon's own
 * per-response timings (float milliseconds, 2xx only, as autocannon records them)
 * kept in a bounded reservoir, because its built-in histogram has 1 ms resolution,
 * too coarse for sub-millisecond differences at concurrency 1.
 */
import autocannon, { type Result } from 'autocannon';
import { Reservoir } from './stats.js';

export interface LoadTarget {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: unknown;
}

export interface LoadResult {
  /** Successful (2xx) responses per second. */
  rps: number;
  /** Latency of 2xx responses, milliseconds. */
  p50: number;
  p99: number;
  /** Connection errors and timeouts. */
  errors: number;
  non2xx: number;
  requests: number;
  durationS: number;
  connections: number;
}

export async function load(target: LoadTarget, options: { connections: number; durationS: number }): Promise<LoadResult> {
  const latencies = new Reservoir();
  const headers: Record<string, string> = { ...target.headers };
  let body: string | undefined;
  if (target.body !== undefined) {
    body = JSON.stringify(target.body);
    headers['content-type'] = 'application/json';
  }
  const result = await new Promise<Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.url,
        method: target.method ?? 'GET',
        headers,
        ...(body !== undefined && { body }),
        connections: options.connections,
        duration: options.durationS,
        pipelining: 1,
        timeout: 30,
      },
      (error, res) => (error ? reject(error) : resolve(res)),
    );
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode >= 200 && statusCode < 300) latencies.add(responseTime);
    });
  });
  const [p50, p99] = latencies.percentiles(50, 99) as [number, number];
  const ok = result['2xx'];
  return {
    rps: result.duration > 0 ? ok / result.duration : 0,
    p50,
    p99,
    errors: result.errors,
    non2xx: result.non2xx,
    requests: ok + result.non2xx,
    durationS: result.duration,
    connections: options.connections,
  };
}

/** Load that is not measured: warms JIT, connection pools and caches on both sides. */
export async function warmUp(target: LoadTarget, options: { connections: number; durationS: number }): Promise<void> {
  await load(target, options);
}

/** One request up front, so a misconfigured target fails loudly instead of benchmarking 4xx. */
export async function checkTarget(name: string, target: LoadTarget): Promise<unknown> {
  const headers: Record<string, string> = { ...target.headers };
  if (target.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(target.url, {
    method: target.method ?? 'GET',
    headers,
    ...(target.body !== undefined && { body: JSON.stringify(target.body) }),
  });
  const text = await res.text();
  if (res.status < 200 || res.status >= 300) throw new Error(`${name}: ${target.method ?? 'GET'} ${target.url} answered ${res.status}: ${text.slice(0, 300)}`);
  return text ? (JSON.parse(text) as unknown) : undefined;
}

export interface SideBySide {
  /** At the high concurrency (throughput). */
  high: LoadResult;
  /** At the low concurrency (latency). */
  low: LoadResult;
}

/**
 * The same phases for every target, interleaved so drift on a noisy machine hits all
 * of them alike: each is checked and warmed up (same warm-up for baselines and us),
 * then all are measured at the high concurrency, then all at the low one.
 */
export async function loadSideBySide<K extends string>(
  targets: Record<K, LoadTarget>,
  options: { high: number; low: number; durationS: number; warmupS: number; log(line: string): void },
): Promise<Record<K, SideBySide>> {
  const names = Object.keys(targets) as K[];
  for (const name of names) {
    await checkTarget(name, targets[name]);
    options.log(`warm-up ${name} (c=${options.high}, ${options.warmupS} s)`);
    await warmUp(targets[name], { connections: options.high, durationS: options.warmupS });
  }
  const high = {} as Record<K, LoadResult>;
  const low = {} as Record<K, LoadResult>;
  for (const name of names) {
    options.log(`${name} c=${options.high} ${options.durationS} s`);
    high[name] = await load(targets[name], { connections: options.high, durationS: options.durationS });
  }
  for (const name of names) {
    options.log(`${name} c=${options.low} ${options.durationS} s`);
    low[name] = await load(targets[name], { connections: options.low, durationS: options.durationS });
  }
  const out = {} as Record<K, SideBySide>;
  for (const name of names) out[name] = { high: high[name], low: low[name] };
  return out;
}
