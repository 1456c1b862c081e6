/**
 * Streaming at scale: N concurrent slow streams (40 chunks, 100 ms apart) through our
 * `/v1/chat/completions` (stream: true) and through our `/chat/stream`, each on a freshly
 * started app, beside the same N streams sent straight to the fake in the same run, and
 * through the bare node:http pass-through proxy (what relaying alone costs in Node).
 * For each: errors (connection resets included), time to first token, the CPU the app and
 * the fake spent per chunk delivered (/proc/PID/stat over the phase), the app's peak RSS.
 * The load comes from child processes (bench/lib/streams-worker.ts), ~2,500 streams each.
 */
import { listenOverflows, meterCpu } from '../lib/cpu.js';
import { rssMb, sampleFds, sampleRss } from '../lib/memory.js';
import { type AppProcess, type FakeProcess, openFilesLimit, raiseOpenFiles, startPassThroughProxy } from '../lib/processes.js';
import { fmt, type Section, type Target } from '../lib/report.js';
import { runStreamsInProcesses, type StreamsResult } from '../lib/streams.js';
import { type BenchContext, bearer } from './context.js';
import { completionBody } from './v1-context.js';

export const SLOW_MESSAGE = '[[words:40]] [[chunk-delay:100]]';
const PEAK_RSS_LIMIT_MB = 600;
const TTFT_LIMIT = 1.5;

export interface StreamsAtScaleOptions {
  /** Stream counts, smallest first: the TTFT target applies to the smallest, errors and RSS to the larger ones. */
  counts: number[];
  /** Streams per load-generator process. */
  perProcess: number;
  /** Per load-generator process, at most this many streams waiting for their answer's headers (0: all sent at once). */
  window: number;
  timeoutMs: number;
  apiKey: string;
  /** Whether the /v1 route exists (otherwise only /chat/stream runs). */
  v1: boolean;
  /** A fresh app whose open-file limit is raised to at least `nofile`. */
  startApp(nofile: number): Promise<AppProcess>;
}

type Kind = 'direct' | 'bare' | 'v1' | 'chatStream';

interface Phase {
  kind: Kind;
  count: number;
  result: StreamsResult;
  /** `app` is the process relaying the streams: ours, or the bare proxy. */
  cpuMs: { app?: number | undefined; fake?: number | undefined; client: number };
  rssBeforeMb?: number | undefined;
  rssPeakMb?: number | undefined;
  /** Peak open descriptors of the relay (or the fake, direct) and its limit. */
  fdsPeak?: number | undefined;
  nofile?: number | undefined;
  /** Connections the kernel dropped during the phase because a listen queue was full (machine-wide). */
  listenOverflows?: number | undefined;
}

const LABELS: Record<Kind, string> = {
  direct: 'fake directly (baseline)',
  bare: 'bare node:http pass-through proxy (reference: relaying alone)',
  v1: 'ours `POST /v1/chat/completions`, `stream: true`',
  chatStream: 'ours `POST /chat/stream`',
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until every stream the fake started has ended (completed or aborted), up to `timeoutMs`. */
async function fakeIdle(fake: FakeProcess, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const counters = (await (await fetch(`${fake.origin}/_fake/counters`)).json()) as { chatStreams: number; completedStreams: number; abortedStreams: number };
    if (counters.chatStreams <= counters.completedStreams + counters.abortedStreams) return;
    await sleep(100);
  }
}

export async function v1StreamsScenario(ctx: BenchContext, fake: FakeProcess, options: StreamsAtScaleOptions): Promise<Section> {
  const body = completionBody(SLOW_MESSAGE, true);
  const phases: Phase[] = [];
  const processesFor = (count: number) => Math.max(1, Math.ceil(count / options.perProcess));

  /** One measured phase: N streams to `url`; the CPU of the relay (`pids.app`) and the fake, the RSS and descriptors of the relay (the fake's when direct). */
  const measure = async (kind: Kind, count: number, url: string, headers: Record<string, string>, requestBody: unknown, pids: { app?: number }): Promise<Phase> => {
    await fakeIdle(fake);
    const watched = pids.app ?? fake.pid;
    ctx.log(`streams at scale: ${count} → ${LABELS[kind]} (${processesFor(count)} client processes, window ${options.window || 'none'}, nofile ${openFilesLimit(watched) ?? '?'})`);
    const rssBeforeMb = rssMb(watched);
    const rss = sampleRss(watched);
    const fds = sampleFds(watched);
    const cpu = meterCpu({ ...pids, fake: fake.pid });
    const overflowsBefore = listenOverflows();
    const result = await runStreamsInProcesses({ url, headers, body: requestBody, count, timeoutMs: options.timeoutMs, processes: processesFor(count), window: options.window });
    const cpuMs = cpu.stop();
    const { peakMb } = rss.stop();
    const fdsPeak = fds.stop();
    const overflowsAfter = listenOverflows();
    await fakeIdle(fake);
    return {
      kind,
      count,
      result,
      cpuMs: { app: cpuMs.app, fake: cpuMs.fake, client: result.clientCpuMs },
      rssBeforeMb,
      rssPeakMb: peakMb,
      fdsPeak,
      nofile: openFilesLimit(watched),
      listenOverflows: overflowsBefore === undefined || overflowsAfter === undefined ? undefined : overflowsAfter - overflowsBefore,
    };
  };
  const warmUp = (url: string, headers: Record<string, string>, requestBody: unknown) =>
    runStreamsInProcesses({ url, headers, body: requestBody, count: 20, timeoutMs: options.timeoutMs, processes: 1 });

  const throughApp = async (kind: 'v1' | 'chatStream', count: number): Promise<Phase> => {
    const app = await options.startApp(2 * count + 4096);
    try {
      const url = kind === 'v1' ? `${app.origin}/v1/chat/completions` : `${app.origin}/chat/stream`;
      const headers = bearer(options.apiKey);
      // Warm-up: a few short streams, so the app pays no first-call costs inside the measurement.
      await warmUp(url, headers, kind === 'v1' ? completionBody('[[words:5]]', true) : { message: '[[words:5]]' });
      const phase = await measure(kind, count, url, headers, kind === 'v1' ? body : { message: SLOW_MESSAGE }, { app: app.pid });
      const stderr = app.stderr().trim();
      if (stderr) ctx.log(`app stderr after ${count} ${kind} streams: ${stderr.slice(-1000)}`);
      return phase;
    } finally {
      await app.stop();
    }
  };

  const throughBareProxy = async (count: number): Promise<Phase> => {
    const proxy = await startPassThroughProxy(fake.origin);
    try {
      await raiseOpenFiles(proxy.pid, 2 * count + 4096);
      const url = `${proxy.origin}/v1/chat/completions`;
      await warmUp(url, bearer('sk-bench'), completionBody('[[words:5]]', true));
      return await measure('bare', count, url, bearer('sk-bench'), body, { app: proxy.pid });
    } finally {
      await proxy.stop();
    }
  };

  for (const count of options.counts) {
    phases.push(await measure('direct', count, `${fake.baseUrl}/chat/completions`, bearer('sk-bench'), body, {}));
    phases.push(await throughBareProxy(count));
    if (options.v1) phases.push(await throughApp('v1', count));
    phases.push(await throughApp('chatStream', count));
  }

  const perChunk = (ms: number | undefined, r: StreamsResult) => (ms === undefined || r.events === 0 ? undefined : (ms * 1000) / r.events);
  const errors = (r: StreamsResult) =>
    r.errors === 0 ? '0' : `${r.errors} (${Object.entries(r.errorKinds).map(([k, v]) => `${k}: ${v}`).join(', ')})`;
  const directOf = (count: number) => phases.find((p) => p.kind === 'direct' && p.count === count)!;
  const rows = phases.map((p) => {
    const direct = directOf(p.count);
    const r = p.result;
    return [
      LABELS[p.kind],
      p.count.toLocaleString('en-US'),
      r.ok.toLocaleString('en-US'),
      errors(r),
      r.peakOpen.toLocaleString('en-US'),
      fmt.s(r.rampMs / 1000),
      fmt.ms(r.firstByteP50),
      fmt.ms(r.ttftP50),
      fmt.ms(r.ttftP99),
      fmt.ratio(r.ttftP50 / direct.result.ttftP50),
      fmt.s(r.p50 / 1000),
      fmt.s(r.wallMs / 1000),
      r.events.toLocaleString('en-US'),
      fmt.us(perChunk(p.cpuMs.app, r)),
      fmt.us(perChunk(p.cpuMs.fake, r)),
      fmt.us(perChunk(p.cpuMs.client, r)),
      p.kind === 'direct' ? `fake: ${fmt.mb(p.rssBeforeMb)} → ${fmt.mb(p.rssPeakMb)}` : `${fmt.mb(p.rssBeforeMb)} → ${fmt.mb(p.rssPeakMb)}`,
      `${p.fdsPeak?.toLocaleString('en-US') ?? '–'} / ${p.nofile?.toLocaleString('en-US') ?? '–'}`,
      p.listenOverflows?.toLocaleString('en-US') ?? '–',
    ];
  });

  const targets: Target[] = [];
  const smallest = Math.min(...options.counts);
  for (const p of phases) {
    if (p.kind === 'direct' || p.kind === 'bare') continue;
    const scenario = `${p.count.toLocaleString('en-US')} streams, ${p.kind === 'v1' ? '/v1/chat/completions' : '/chat/stream'}`;
    const direct = directOf(p.count);
    const appChunk = perChunk(p.cpuMs.app, p.result);
    const fakeOwn = perChunk(direct.cpuMs.fake, direct.result);
    targets.push({
      scenario,
      name: 'app CPU per chunk ≤ the fake\'s own (direct run)',
      measured: `${fmt.us(appChunk)} vs ${fmt.us(fakeOwn)}`,
      limit: '≤ 1.00×',
      met: appChunk !== undefined && fakeOwn !== undefined && appChunk <= fakeOwn,
    });
    if (p.count === smallest) {
      const ratio = p.result.ttftP50 / direct.result.ttftP50;
      targets.push({ scenario, name: 'first token p50 vs direct', measured: fmt.ratio(ratio), limit: `≤ ${TTFT_LIMIT.toFixed(2)}×`, met: ratio <= TTFT_LIMIT });
    }
    if (p.count > smallest || options.counts.length === 1) {
      targets.push({ scenario, name: 'stream errors', measured: String(p.result.errors), limit: '0', met: p.result.errors === 0 });
      targets.push({
        scenario,
        name: 'app peak RSS',
        measured: fmt.mb(p.rssPeakMb),
        limit: `< ${PEAK_RSS_LIMIT_MB} MB`,
        met: p.rssPeakMb !== undefined && p.rssPeakMb < PEAK_RSS_LIMIT_MB,
      });
    }
  }

  return {
    title: `2. Streams at scale: ${options.counts.map((n) => n.toLocaleString('en-US')).join(' / ')} concurrent streams`,
    tables: [
      {
        columns: [
          'streams to',
          'N',
          'ok',
          'errors',
          'peak open',
          'all sent after',
          'first byte p50',
          'first token p50',
          'first token p99',
          'first token vs direct',
          'per-stream p50',
          'wall time',
          'chunks delivered',
          'relay CPU / chunk',
          'fake CPU / chunk',
          'load gen CPU / chunk',
          'relay RSS before → peak',
          'relay fds peak / limit',
          'listen-queue drops',
        ],
        rows,
      },
    ],
    notes: [
      `User message \`${SLOW_MESSAGE}\`: 40 words 100 ms apart, so a stream lasts ≥ 3.9 s; /v1, the bare proxy and the direct runs send the same body (stream: true alone), ` +
        `/chat/stream sends {"message"}. The streams come from ${options.perProcess.toLocaleString('en-US')} per load-generator process, one connection each, ` +
        (options.window > 0
          ? `each process keeping at most ${options.window} waiting for their answer's headers (the next is sent as one gets them), so the servers' listen queues ` +
            '(backlog 511) do not overflow; "all sent after" is when the last request went out, "peak open" the most streams open at once (sampled every 100 ms).'
          : 'all sent at once.'),
      'A stream is good when it answered 200 and ended with `data: [DONE]`; errors are counted by kind (status, missing [DONE], connection: ECONNRESET…, timeout). ' +
        'First byte / first token: from sending the request to the first body bytes / the first event with non-empty `content`. ' +
        'The fake sends its role chunk at once and the first word 100 ms later, so every first-token time includes those 100 ms.',
      'CPU per chunk: utime+stime from /proc/PID/stat over the phase (10 ms ticks), divided by the SSE events the clients received, ' +
        'so per-stream costs (accepting the connection, auth, the upstream connection) are spread over ~43 chunks; the relay is the app or the bare proxy, ' +
        'and in those rows the fake column is the fake serving their upstream streams. 10,000 streams of 10 chunks a second is 100,000 chunks a second ' +
        'on every hop: more than these 2 cores can relay, so at that size streams stretch and the question is whether they all end well.',
      'Each relay row is a freshly started app or proxy (20 short warm-up streams first); RSS sampled every 100 ms from /proc/PID/status, open descriptors every 250 ms from /proc/PID/fd. ' +
        'A relayed stream holds two sockets (the client\'s and the upstream one): the bench asks prlimit for 2N + 4,096 open files, which only works with CAP_SYS_RESOURCE; ' +
        'the limit column is what the process had. Listen-queue drops: the kernel\'s ListenOverflows (/proc/net/netstat, machine-wide) over the phase, ' +
        'connections refused because a server did not accept them fast enough (the app and the bare proxy listen with backlog 511, the fake with 4,096).',
    ],
    targets,
    data: phases,
  };
}
