/**
 * Many streaming requests at once. Each client reads its stream to the end and keeps
 * only the last bytes, so the load generator's memory stays flat however many run;
 * a stream counts as good when it answered 200 and its last event is `data: [DONE]`.
 * Each stream also records its time to first byte and to first token (the first event
 * whose `content` is not empty: OpenAI's chunks and our `{"content"}` events alike), from
 * the moment its request is sent, and how many events it received, good or not, so CPU
 * can be divided by the chunks actually delivered.
 *
 * `window` bounds how many streams of one process may wait for their answer's headers at
 * once: the next request is sent as one gets them. Without it all are sent at once, and
 * past a few thousand that measures the kernel, not the server: the SYNs overflow the
 * listen queue (backlog 511 in Node and Fastify), are dropped and retried 1, 3, 7, 15… s
 * later, until connect gives up (ETIMEDOUT) or a SYN-cookie connection is reset.
 * How many streams were open together is sampled every 100 ms (`peakOpen`).
 *
 * One process may not open 10,000 sockets fast enough, and its event loop would then be
 * the bottleneck being measured: `runStreamsInProcesses` splits the streams over child
 * processes (bench/lib/streams-worker.ts) that start together and report raw samples.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { summarize } from './stats.js';

export interface StreamsResult {
  streams: number;
  ok: number;
  errors: number;
  /** Error kind → count (non-200 status, missing [DONE], connection error such as ECONNRESET, timeout). */
  errorKinds: Record<string, number>;
  wallMs: number;
  /** Per-stream duration of the good ones, ms. */
  p50: number;
  p99: number;
  /** Time to first token of the good ones, ms. */
  ttftP50: number;
  ttftP99: number;
  /** Time to the first body bytes of the good ones, ms. */
  firstByteP50: number;
  firstByteP99: number;
  /** SSE events received by all streams, good or not. */
  events: number;
  /** Most streams open at once (answer headers in, not yet ended), over all processes. */
  peakOpen: number;
  /** From the start until the last request was sent (0 when all are sent at once). */
  rampMs: number;
  /** CPU ms of the load generator process(es) during the run. */
  clientCpuMs: number;
  /** How many processes opened the streams. */
  processes: number;
}

export interface StreamsOptions {
  url: string;
  headers?: Record<string, string>;
  body: unknown;
  count: number;
  timeoutMs: number;
  /** At most this many streams of one process waiting for their answer's headers (0 or absent: all sent at once). */
  window?: number;
}

/** What one process measured: raw samples, so several processes' can be merged. */
export interface RawStreams {
  count: number;
  durations: number[];
  ttfts: number[];
  firstBytes: number[];
  errorKinds: Record<string, number>;
  events: number;
  /** Open streams every SAMPLE_MS from the start. */
  open: number[];
  rampMs: number;
  wallMs: number;
  cpuMs: number;
}

const DONE = 'data: [DONE]\n\n';
const FIRST_TOKEN = /"content":"[^"]/;
const SAMPLE_MS = 100;

interface OneStream {
  error?: string;
  ms: number;
  ttft?: number;
  firstByte?: number;
  events: number;
}

interface Hooks {
  /** The answer's headers arrived. */
  answered(): void;
  /** A stream whose headers had arrived ended, well or not. */
  closed(): void;
  /** The request failed before any answer. */
  failed(): void;
}

function oneStream(agent: http.Agent, url: string, headers: Record<string, string>, payload: string, timeoutMs: number, hooks: Hooks): Promise<OneStream> {
  const started = performance.now();
  let events = 0;
  let ttft: number | undefined;
  let firstByte: number | undefined;
  let answered = false;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      if (answered) hooks.closed();
      else hooks.failed();
      resolve({ ...(error !== undefined && { error }), ms: performance.now() - started, ...(ttft !== undefined && { ttft }), ...(firstByte !== undefined && { firstByte }), events });
    };
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        answered = true;
        hooks.answered();
        if (res.statusCode !== 200) {
          res.resume();
          finish(`status ${res.statusCode}`);
          return;
        }
        res.setEncoding('latin1');
        let tail = '';
        // A "\n" ending one read that is the first half of an event's "\n\n".
        let pendingNewline = false;
        res.on('data', (text: string) => {
          firstByte ??= performance.now() - started;
          let from = 0;
          let lastEnd = -1;
          if (pendingNewline && text.charCodeAt(0) === 10) {
            events++;
            from = 1;
            lastEnd = 1;
          }
          for (let i = text.indexOf('\n\n', from); i >= 0; i = text.indexOf('\n\n', i + 2)) {
            events++;
            lastEnd = i + 2;
          }
          pendingNewline = text.charCodeAt(text.length - 1) === 10 && lastEnd !== text.length;
          const seen = tail + text;
          if (ttft === undefined && FIRST_TOKEN.test(seen)) ttft = performance.now() - started;
          tail = seen.slice(-DONE.length);
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

/** Opens `count` streams in this process (one connection each, `window` at a time) and waits for all of them. */
export async function openStreams(options: StreamsOptions): Promise<RawStreams> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const payload = JSON.stringify(options.body);
  const window = options.window && options.window > 0 ? options.window : options.count;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const open: number[] = [];
  let openNow = 0;
  const sampler = setInterval(() => open.push(openNow), SAMPLE_MS);
  let sent = 0;
  let waiting = 0;
  let rampMs = 0;
  const results: Array<Promise<OneStream>> = [];
  try {
    await new Promise<void>((allSent) => {
      const hooks: Hooks = {
        answered() {
          waiting--;
          openNow++;
          sendMore();
        },
        closed() {
          openNow--;
        },
        failed() {
          waiting--;
          sendMore();
        },
      };
      function sendMore(): void {
        while (waiting < window && sent < options.count) {
          waiting++;
          sent++;
          results.push(oneStream(agent, options.url, options.headers ?? {}, payload, options.timeoutMs, hooks));
        }
        if (sent === options.count && rampMs === 0) {
          rampMs = performance.now() - started;
          allSent();
        }
      }
      sendMore();
    });
    const settled = await Promise.all(results);
    const wallMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    const errorKinds: Record<string, number> = {};
    const durations: number[] = [];
    const ttfts: number[] = [];
    const firstBytes: number[] = [];
    let events = 0;
    for (const r of settled) {
      events += r.events;
      if (r.error === undefined) {
        durations.push(r.ms);
        if (r.ttft !== undefined) ttfts.push(r.ttft);
        if (r.firstByte !== undefined) firstBytes.push(r.firstByte);
      } else {
        errorKinds[r.error] = (errorKinds[r.error] ?? 0) + 1;
      }
    }
    return {
      count: options.count,
      durations,
      ttfts,
      firstBytes,
      errorKinds,
      events,
      open,
      rampMs: window >= options.count ? 0 : rampMs,
      wallMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
    };
  } finally {
    clearInterval(sampler);
    agent.destroy();
  }
}

function merge(parts: RawStreams[], wallMs: number, processes: number): StreamsResult {
  const errorKinds: Record<string, number> = {};
  const durations: number[] = [];
  const ttfts: number[] = [];
  const firstBytes: number[] = [];
  const open: number[] = [];
  let count = 0;
  let events = 0;
  let clientCpuMs = 0;
  let rampMs = 0;
  for (const part of parts) {
    count += part.count;
    events += part.events;
    clientCpuMs += part.cpuMs;
    rampMs = Math.max(rampMs, part.rampMs);
    for (const d of part.durations) durations.push(d);
    for (const t of part.ttfts) ttfts.push(t);
    for (const t of part.firstBytes) firstBytes.push(t);
    part.open.forEach((n, i) => (open[i] = (open[i] ?? 0) + n));
    for (const [kind, n] of Object.entries(part.errorKinds)) errorKinds[kind] = (errorKinds[kind] ?? 0) + n;
  }
  const { p50, p99 } = summarize(durations);
  const ttft = summarize(ttfts);
  const firstByte = summarize(firstBytes);
  return {
    streams: count,
    ok: durations.length,
    errors: count - durations.length,
    errorKinds,
    wallMs,
    p50,
    p99,
    ttftP50: ttft.p50,
    ttftP99: ttft.p99,
    firstByteP50: firstByte.p50,
    firstByteP99: firstByte.p99,
    events,
    peakOpen: Math.max(0, ...open),
    rampMs,
    clientCpuMs,
    processes,
  };
}

/** Opens `count` streams from this process and waits for all of them. */
export async function runStreams(options: StreamsOptions): Promise<StreamsResult> {
  const raw = await openStreams(options);
  return merge([raw], raw.wallMs, 1);
}

const WORKER = fileURLToPath(new URL('./streams-worker.ts', import.meta.url));
/** The repository root, where `--import tsx` resolves. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The same as runStreams with the streams split over `processes` child processes (one or
 * more; never this process, so the bench's own timers stay out of the load): all of them
 * are started and ready before any opens a stream, then they start together; wall time
 * runs from that start to the last stream's end. `window` is per process.
 */
export async function runStreamsInProcesses(options: StreamsOptions & { processes: number }): Promise<StreamsResult> {
  const processes = Math.max(1, Math.min(options.processes, options.count));
  const children = Array.from({ length: processes }, () => {
    const child = fork(WORKER, [], { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const gone = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) => reject(new Error(`stream worker exited (${code ?? signal}) before it reported`))),
    );
    gone.catch(() => {}); // killed on purpose in the finally below
    return { child, gone };
  });
  try {
    const message = <T>({ child, gone }: (typeof children)[number], type: string) =>
      Promise.race([new Promise<T>((resolve) => child.on('message', (m: { type: string; value: T }) => m.type === type && resolve(m.value))), gone]);
    await Promise.all(children.map((child) => message<null>(child, 'ready')));
    const base = Math.floor(options.count / processes);
    const results = children.map((child) => message<RawStreams>(child, 'done'));
    const started = performance.now();
    children.forEach(({ child }, i) => {
      const count = base + (i < options.count % processes ? 1 : 0);
      const { processes: _, ...perProcess } = options;
      child.send({ type: 'run', options: { ...perProcess, count } });
    });
    const parts = await Promise.all(results);
    return merge(parts, performance.now() - started, processes);
  } finally {
    for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
