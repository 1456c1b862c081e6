/**
 * Many streaming requests at once. Each client reads its stream to the end and keeps
 * only the last bytes, so the bench process's memory stays flat however many run;
 * a stream counts as good when it answered 200 and its last event is `data: [DONE]`.
 */
import http from 'node:http';
import { summarize } from './stats.js';

export interface StreamsResult {
  streams: number;
  ok: number;
  errors: number;
  /** Error kind → count (non-200 status, missing [DONE], connection error, timeout). */
  errorKinds: Record<string, number>;
  wallMs: number;
  /** Per-stream duration of the good ones, ms. */
  p50: number;
  p99: number;
}

const DONE = 'data: [DONE]\n\n';

function oneStream(agent: http.Agent, url: string, headers: Record<string, string>, payload: string, timeoutMs: number): Promise<{ error?: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      resolve({ ...(error !== undefined && { error }), ms: performance.now() - started });
    };
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          finish(`status ${res.statusCode}`);
          return;
        }
        res.setEncoding('utf8');
        let tail = '';
        res.on('data', (text: string) => {
          tail = (tail + text).slice(-DONE.length);
        });
        res.once('end', () => finish(tail === DONE ? undefined : 'no [DONE] at the end'));
        res.once('error', (e: NodeJS.ErrnoException) => finish(`connection: ${e.code ?? e.message}`));
        res.once('aborted', () => finish('connection: aborted'));
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.once('error', (e: NodeJS.ErrnoException) => finish(e.code === 'TIMEOUT' ? 'timeout' : `connection: ${e.code ?? e.message}`));
    req.end(payload);
  });
}

/** Opens `count` streams at once (one connection each) and waits for all of them. */
export async function runStreams(options: {
  url: string;
  headers?: Record<string, string>;
  body: unknown;
  count: number;
  timeoutMs: number;
}): Promise<StreamsResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const payload = JSON.stringify(options.body);
  const started = performance.now();
  try {
    const results = await Promise.all(
      Array.from({ length: options.count }, () => oneStream(agent, options.url, options.headers ?? {}, payload, options.timeoutMs)),
    );
    const wallMs = performance.now() - started;
    const errorKinds: Record<string, number> = {};
    const durations: number[] = [];
    for (const r of results) {
      if (r.error === undefined) durations.push(r.ms);
      else errorKinds[r.error] = (errorKinds[r.error] ?? 0) + 1;
    }
    const { p50, p99 } = summarize(durations);
    return { streams: options.count, ok: durations.length, errors: options.count - durations.length, errorKinds, wallMs, p50, p99 };
  } finally {
    agent.destroy();
  }
}
