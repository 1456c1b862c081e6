/**
 * `tsx bench/streams-log.ts` (part of `npm run bench`): what the stream log (resumable
 * streams) costs. Every /chat/stream goes through it; this compares, in one run, on
 * SQLite:
 *   - the fake streamed directly (the floor),
 *   - the default policy, in process (the path every client takes unless it asks),
 *   - `resumable: true`, in process,
 *   - the default policy and `resumable: true` with the log in Redis (REDIS_URL; BENCH_REDIS_URL,
 *     default redis://127.0.0.1:6379, skipped when it does not answer).
 * Time to first token (one at a time, the targets alternating, in reversed order every other round) and 2,000 concurrent slow
 * streams on a fresh process each (wall time, per-stream time, peak RSS). Main's tree
 * (before the log) is not built here: its numbers are bench/run.ts's sections 4 and 5
 * (same fake, same message), run by `npm run bench` just before this.
 *
 *   BENCH_QUICK=1   fewer requests and 200 streams
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { sqliteDatabase } from './lib/database.js';
import { rssMb, sampleRss } from './lib/memory.js';
import { buildApp, cleanupAll, createUser, installExitHandlers, onCleanup, startApp, startFake, type FakeProcess } from './lib/processes.js';
import { fmt, markdownTable } from './lib/report.js';
import { loadSettings } from './lib/settings.js';
import { summarize } from './lib/stats.js';
import { runStreams, type StreamsResult } from './lib/streams.js';
import { appFirstToken, openAIFirstToken, timeToFirstToken, type StreamTarget } from './lib/ttft.js';
import { bearer, directChatBody } from './scenarios/context.js';

const SLOW = '[[words:40]] [[chunk-delay:100]]';
const started = performance.now();
const log = (line: string) => process.stderr.write(`[streams-log ${((performance.now() - started) / 1000).toFixed(0).padStart(3)}s] ${line}\n`);

interface Variant {
  name: string;
  env: Record<string, string>;
  body: Record<string, unknown>;
}

async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

async function main(): Promise<void> {
  installExitHandlers();
  const settings = loadSettings();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oab-bench-streams-'));
  onCleanup(() => fs.rmSync(workDir, { recursive: true, force: true }));
  const redisUrl = process.env.BENCH_REDIS_URL?.trim() || 'redis://127.0.0.1:6379';
  const withRedis = await redisAnswers(redisUrl);
  const redisEnv = () => ({ REDIS_URL: redisUrl, REDIS_KEY_PREFIX: `oab-bench:${randomBytes(4).toString('hex')}:` });
  const variants: Variant[] = [
    { name: 'default policy, in process', env: {}, body: {} },
    { name: '`resumable: true`, in process', env: {}, body: { resumable: true } },
    ...(withRedis
      ? [
          { name: 'default policy, Redis log', env: redisEnv(), body: {} },
          { name: '`resumable: true`, Redis log', env: redisEnv(), body: { resumable: true } },
        ]
      : []),
  ];

  log('building (npm run build)');
  await buildApp();
  const fake = await startFake();
  const db = sqliteDatabase(workDir, 'streams');
  const user = await createUser(db.url);
  const out: string[] = [`# Stream log (resumable streams)\n\n${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.version}, SQLite${withRedis ? ', Redis' : ' (no Redis answered at ' + redisUrl + ')'}.\n`];

  // --- time to first token: every target on one app process per log placement, alternating
  const n = settings.ttftRequests;
  const warm = settings.ttftWarmup;
  log(`time to first token: ${warm} warm-up + ${n} each`);
  const direct: StreamTarget = { url: `${fake.baseUrl}/chat/completions`, headers: bearer('sk-bench'), body: directChatBody('hello', { stream: true }), isFirstToken: openAIFirstToken };
  const ttft = new Map<string, number[]>([['fake directly (floor)', []]]);
  const placements = withRedis ? [{ env: {} }, { env: redisEnv() }] : [{ env: {} }];
  const apps = await Promise.all(placements.map((p) => startApp({ databaseUrl: db.url, fakeBaseUrl: fake.baseUrl, workDir, env: p.env })));
  try {
    const targets: Array<[string, StreamTarget, http.Agent]> = [['fake directly (floor)', direct, new http.Agent({ keepAlive: true, maxSockets: 1 })]];
    for (const variant of variants) {
      const app = apps[variant.env['REDIS_URL'] ? 1 : 0]!;
      ttft.set(variant.name, []);
      targets.push([
        variant.name,
        { url: `${app.origin}/chat/stream`, headers: bearer(user.api_key), body: { message: 'hello', ...variant.body }, isFirstToken: appFirstToken },
        new http.Agent({ keepAlive: true, maxSockets: 1 }),
      ]);
    }
    for (let i = 0; i < warm + n; i++) {
      // The order reversed every other round: the first request an idle process gets is slower (its loop wakes up).
      for (const [name, target, agent] of i % 2 === 0 ? targets : targets.toReversed()) {
        const ms = await timeToFirstToken(agent, target);
        if (i >= warm) ttft.get(name)!.push(ms);
      }
    }
    for (const [, , agent] of targets) agent.destroy();
  } finally {
    await Promise.all(apps.map((a) => a.stop()));
  }
  const floor = summarize(ttft.get('fake directly (floor)')!);
  const defaultTtft = summarize(ttft.get(variants[0]!.name)!);
  out.push(
    `## Streaming time to first token\n\n${markdownTable({
      columns: ['stream', 'requests', 'p50', 'p99', 'p50 − fake', 'p50 vs default policy'],
      rows: [...ttft.entries()].map(([name, samples]) => {
        const s = summarize(samples);
        return [name, String(s.n), fmt.ms(s.p50), fmt.ms(s.p99), fmt.deltaMs(s.p50 - floor.p50), name.startsWith('fake') ? '–' : fmt.ratio(s.p50 / defaultTtft.p50)];
      }),
    })}\n`,
  );

  // --- concurrent streams: a fresh app per variant, so its RSS is its own
  const count = settings.streams;
  const rows: string[][] = [];
  const results: Record<string, unknown> = {};
  const fakeRun = await concurrentDirect(fake, count, settings.streamTimeoutMs);
  rows.push(['fake directly (floor; RSS of the fake)', String(fakeRun.result.ok), String(fakeRun.result.errors), fmt.s(fakeRun.result.wallMs / 1000), '–', fmt.s(fakeRun.result.p50 / 1000), fmt.s(fakeRun.result.ttftP50 / 1000), '–', fmt.mb(fakeRun.peakMb)]);
  let defaultRun: { result: StreamsResult; peakMb: number | undefined; afterMb: number | undefined } | undefined;
  for (const variant of variants) {
    log(`concurrent streams: ${count}, ${variant.name}`);
    const app = await startApp({ databaseUrl: db.url, fakeBaseUrl: fake.baseUrl, workDir, env: variant.env, nofile: 65_536 });
    try {
      const url = `${app.origin}/chat/stream`;
      await runStreams({ url, headers: bearer(user.api_key), body: { message: '[[words:5]]', ...variant.body }, count: 20, timeoutMs: settings.streamTimeoutMs });
      const sampler = sampleRss(app.pid);
      const result = await runStreams({ url, headers: bearer(user.api_key), body: { message: SLOW, ...variant.body }, count, timeoutMs: settings.streamTimeoutMs });
      const peakMb = sampler.stop().peakMb;
      const run = { result, peakMb, afterMb: rssMb(app.pid) };
      defaultRun ??= run;
      results[variant.name] = run;
      rows.push([
        variant.name,
        String(result.ok),
        String(result.errors),
        fmt.s(result.wallMs / 1000),
        fmt.ratio(result.wallMs / defaultRun.result.wallMs),
        fmt.s(result.p50 / 1000),
        fmt.s(result.ttftP50 / 1000),
        fmt.ratio(result.ttftP50 / defaultRun.result.ttftP50),
        `${fmt.mb(peakMb)} (${fmt.ratio((peakMb ?? NaN) / (defaultRun.peakMb ?? NaN))})`,
      ]);
    } finally {
      await app.stop();
    }
  }
  out.push(
    `## ${count.toLocaleString('en-US')} concurrent streams\n\n${markdownTable({
      columns: ['streams to', 'ok', 'errors', 'wall time', 'wall vs default', 'per-stream p50', 'first token p50', 'first token vs default', 'peak RSS (vs default)'],
      rows,
    })}\n\nMessage \`${SLOW}\` (≥ 3.9 s each), all opened at once; a fresh app process per row after 20 short warm-up streams. ` +
      'Ended logs are kept STREAM_RETENTION_SECONDS (600 s), so the peak RSS includes every log of the run.\n',
  );
  await fake.stop();
  process.stdout.write(`${out.join('\n')}\n`);
  fs.mkdirSync(path.join('bench', 'results'), { recursive: true });
  fs.writeFileSync(path.join('bench', 'results', 'streams-log.json'), JSON.stringify({ ttft: Object.fromEntries(ttft), concurrent: results, direct: fakeRun }, null, 2));
}

async function concurrentDirect(fake: FakeProcess, count: number, timeoutMs: number) {
  log(`concurrent streams: ${count} direct to the fake`);
  const body = directChatBody(SLOW, { stream: true });
  const sampler = sampleRss(fake.pid);
  const result = await runStreams({ url: `${fake.baseUrl}/chat/completions`, headers: bearer('sk-bench'), body, count, timeoutMs });
  return { result, peakMb: sampler.stop().peakMb };
}

main().then(
  async () => {
    await cleanupAll();
    process.exit(0);
  },
  async (error: unknown) => {
    process.stderr.write(`streams-log: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    await cleanupAll();
    process.exit(1);
  },
);
