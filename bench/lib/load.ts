/**
 * A thin wrapper around autocannon. Latency percentiles come from autocannon's own
 * per-response timings (float milliseconds, 2xx only, as autocannon records them)
 * kept in a bounded reservoir, because its built-in histogram has 1 ms resolution,
 * too coarse for sub-millisecond differences at concurrency 1.
 *
 * A `stream` target (an SSE answer) is timed three ways on each of autocannon's
 * connections, from the moment a request is written: its first body bytes, its first
 * token (the first event whose `content` is not empty: OpenAI's chunks and our own
 * `{"content"}` events alike), and the whole response (autocannon's latency). Streams
 * that do not end with `data: [DONE]` are counted apart.
 */
import type { EventEmitter } from 'node:events';
import autocannon, { type Result } from 'autocannon';
import { meterCpu } from './cpu.js';
import { Reservoir } from './stats.js';

export interface LoadTarget {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: unknown;
  /** The answer is an event stream: time its first bytes and first token too. */
  stream?: boolean;
  /** Processes whose CPU time is read from /proc over the measured phase: name → pid. */
  cpu?: Record<string, number>;
}

/** The first event with a non-empty `content`; the role chunk's `"content":""` does not count. */
const FIRST_TOKEN = /"content":"[^"]/;
const STREAM_END = 'data: [DONE]\n\n';

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
  /** Stream targets: time to the first body bytes and to the first token, 2xx only, ms. */
  firstByteP50?: number;
  firstTokenP50?: number;
  firstTokenP99?: number;
  /** Stream targets: 2xx answers that did not end with `data: [DONE]`. */
  badStreams?: number;
  /** CPU ms each process of `target.cpu` used during the phase, and per 2xx response (µs); `load` is this process, the load generator. */
  cpuMs?: Record<string, number | undefined>;
  cpuUsPerResponse?: Record<string, number | undefined>;
}

/** Times the first bytes and first token of each response on one autocannon connection. */
function streamTimer(firstBytes: Reservoir, firstTokens: Reservoir) {
  return (client: EventEmitter) => {
    let sent = 0;
    let ok = false;
    let gotBytes = false;
    let gotToken = false;
    let tail = '';
    client.on('request', () => {
      sent = performance.now();
      ok = gotBytes = gotToken = false;
      tail = '';
    });
    client.on('headers', (info: { statusCode: number }) => {
      ok = info.statusCode >= 200 && info.statusCode < 300;
    });
    // autocannon emits the socket read that holds the body part, so it may repeat text already seen: only the first match counts.
    client.on('body', (read: Buffer) => {
      if (!ok || gotToken) return;
      const now = performance.now();
      if (!gotBytes) {
        gotBytes = true;
        firstBytes.add(now - sent);
      }
      const text = tail + read.toString('latin1');
      if (FIRST_TOKEN.test(text)) {
        gotToken = true;
        firstTokens.add(now - sent);
      } else {
        tail = text.slice(-16);
      }
    });
  };
}

export async function load(target: LoadTarget, options: { connections: number; durationS: number }): Promise<LoadResult> {
  const latencies = new Reservoir();
  const firstBytes = new Reservoir();
  const firstTokens = new Reservoir();
  const headers: Record<string, string> = { ...target.headers };
  let body: string | undefined;
  if (target.body !== undefined) {
    body = JSON.stringify(target.body);
    headers['content-type'] = 'application/json';
  }
  const cpu = meterCpu({ ...target.cpu, load: process.pid });
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
        ...(target.stream && {
          setupClient: streamTimer(firstBytes, firstTokens),
          verifyBody: (text: string) => text.endsWith(STREAM_END),
        }),
      },
      (error, res) => (error ? reject(error) : resolve(res)),
    );
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode >= 200 && statusCode < 300) latencies.add(responseTime);
    });
  });
  const cpuMs = cpu.stop();
  const [p50, p99] = latencies.percentiles(50, 99) as [number, number];
  const [firstTokenP50, firstTokenP99] = firstTokens.percentiles(50, 99) as [number, number];
  const ok = result['2xx'];
  const cpuUsPerResponse = Object.fromEntries(Object.entries(cpuMs).map(([name, ms]) => [name, ms === undefined || ok === 0 ? undefined : (ms * 1000) / ok]));
  return {
    rps: result.duration > 0 ? ok / result.duration : 0,
    p50,
    p99,
    errors: result.errors,
    non2xx: result.non2xx,
    requests: ok + result.non2xx,
    durationS: result.duration,
    connections: options.connections,
    ...(target.stream && {
      firstByteP50: firstBytes.percentiles(50)[0],
      firstTokenP50,
      firstTokenP99,
      badStreams: result.mismatches ?? 0,
    }),
    cpuMs,
    cpuUsPerResponse,
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
  if (target.stream) {
    if (!text.endsWith(STREAM_END)) throw new Error(`${name}: ${target.url} streamed no [DONE] at the end: ${text.slice(-300)}`);
    return text;
  }
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
  await checkAndWarm(targets, { connections: options.high, warmupS: options.warmupS, log: options.log });
  const high = await measureEach(targets, { connections: options.high, durationS: options.durationS, log: options.log });
  const low = await measureEach(targets, { connections: options.low, durationS: options.durationS, log: options.log });
  const out = {} as Record<K, SideBySide>;
  for (const name of names) out[name] = { high: high[name], low: low[name] };
  return out;
}

/** loadSideBySide at one concurrency: every target checked and warmed up, then each measured in turn. */
export async function loadEach<K extends string>(
  targets: Record<K, LoadTarget>,
  options: { connections: number; durationS: number; warmupS: number; log(line: string): void },
): Promise<Record<K, LoadResult>> {
  await checkAndWarm(targets, options);
  return measureEach(targets, options);
}

async function checkAndWarm<K extends string>(targets: Record<K, LoadTarget>, options: { connections: number; warmupS: number; log(line: string): void }): Promise<void> {
  for (const name of Object.keys(targets) as K[]) {
    await checkTarget(name, targets[name]);
    options.log(`warm-up ${name} (c=${options.connections}, ${options.warmupS} s)`);
    await warmUp(targets[name], { connections: options.connections, durationS: options.warmupS });
  }
}

async function measureEach<K extends string>(
  targets: Record<K, LoadTarget>,
  options: { connections: number; durationS: number; log(line: string): void },
): Promise<Record<K, LoadResult>> {
  const out = {} as Record<K, LoadResult>;
  for (const name of Object.keys(targets) as K[]) {
    options.log(`${name} c=${options.connections} ${options.durationS} s`);
    out[name] = await load(targets[name], { connections: options.connections, durationS: options.durationS });
  }
  return out;
}
