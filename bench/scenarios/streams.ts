/**
 * Many concurrent streams: `count` POST /chat/stream opened at once, each ~4 s long
 * ([[words:40]] [[chunk-delay:100]]), on a freshly started app; its RSS is sampled
 * every 100 ms. The same number of streams straight to the fake runs first, as the
 * baseline for wall time.
 */
import { rssMb, sampleRss } from '../lib/memory.js';
import { fmt, type Section, type Target } from '../lib/report.js';
import { runStreams, type StreamsResult } from '../lib/streams.js';
import { type AppUnderTest, type BenchContext, bearer, directChatBody } from './context.js';

const MESSAGE = '[[words:40]] [[chunk-delay:100]]';
const PEAK_RSS_LIMIT_MB = 300;

export async function streamsScenario(ctx: BenchContext, app: AppUnderTest): Promise<Section> {
  const { streams: count, streamTimeoutMs } = ctx.settings;
  const directBody = directChatBody(MESSAGE, { stream: true });

  // Warm-up: a few short streams through both, so neither pays first-call costs inside the measurement.
  ctx.log('concurrent streams: warm-up');
  const quickMessage = '[[words:5]]';
  await runStreams({ url: `${app.origin}/chat/stream`, headers: bearer(app.apiKey), body: { message: quickMessage }, count: 20, timeoutMs: streamTimeoutMs });
  await runStreams({
    url: `${ctx.fake.baseUrl}/chat/completions`,
    headers: bearer('sk-bench'),
    body: { ...directBody, messages: [{ role: 'user', content: quickMessage }] },
    count: 20,
    timeoutMs: streamTimeoutMs,
  });

  ctx.log(`concurrent streams: ${count} direct to the fake`);
  const fakeBefore = rssMb(ctx.fake.pid);
  let sampler = sampleRss(ctx.fake.pid);
  const direct = await runStreams({ url: `${ctx.fake.baseUrl}/chat/completions`, headers: bearer('sk-bench'), body: directBody, count, timeoutMs: streamTimeoutMs });
  const fakePeak = sampler.stop().peakMb;

  ctx.log(`concurrent streams: ${count} through the app`);
  const appBefore = rssMb(app.pid);
  sampler = sampleRss(app.pid);
  const fakeDuringOurs = sampleRss(ctx.fake.pid);
  const ours = await runStreams({ url: `${app.origin}/chat/stream`, headers: bearer(app.apiKey), body: { message: MESSAGE }, count, timeoutMs: streamTimeoutMs });
  const { peakMb: appPeak, samples } = sampler.stop();
  const fakePeakDuringOurs = fakeDuringOurs.stop().peakMb;

  const errors = (r: StreamsResult) =>
    r.errors === 0 ? '0' : `${r.errors} (${Object.entries(r.errorKinds).map(([k, v]) => `${k}: ${v}`).join(', ')})`;
  const scenario = `${count.toLocaleString('en-US')} streams (${app.db.label})`;
  const targets: Target[] = [
    { scenario, name: 'stream errors', measured: String(ours.errors), limit: '0', met: ours.errors === 0 },
    {
      scenario,
      name: 'app peak RSS',
      measured: fmt.mb(appPeak),
      limit: `< ${PEAK_RSS_LIMIT_MB} MB`,
      met: appPeak !== undefined && appPeak < PEAK_RSS_LIMIT_MB,
    },
  ];
  return {
    title: `5. ${count.toLocaleString('en-US')} concurrent streams (${app.db.label})`,
    tables: [
      {
        columns: ['streams to', 'streams', 'ok', 'errors', 'wall time', 'wall vs direct', 'per-stream p50', 'per-stream p99', 'RSS before', 'peak RSS'],
        rows: [
          ['fake directly (baseline; RSS of the fake)', String(direct.streams), String(direct.ok), errors(direct), fmt.s(direct.wallMs / 1000), '1.00×', fmt.s(direct.p50 / 1000), fmt.s(direct.p99 / 1000), fmt.mb(fakeBefore), fmt.mb(fakePeak)],
          ['app `POST /chat/stream` (RSS of the app)', String(ours.streams), String(ours.ok), errors(ours), fmt.s(ours.wallMs / 1000), fmt.ratio(ours.wallMs / direct.wallMs), fmt.s(ours.p50 / 1000), fmt.s(ours.p99 / 1000), fmt.mb(appBefore), fmt.mb(appPeak)],
        ],
      },
    ],
    notes: [
      `Message \`${MESSAGE}\`: 40 words, 100 ms apart, so each stream lasts ≥ 3.9 s. All ${count} are opened at once, one connection each; a stream is good when it answered 200 and ended with \`data: [DONE]\`.`,
      `App RSS sampled every 100 ms (${samples} samples) from /proc/${app.pid}/status on a freshly started app after 20 short warm-up streams; the fake peaked at ${fmt.mb(fakePeakDuringOurs)} while serving the app's upstream streams.`,
    ],
    targets,
    data: { direct, ours, rssMb: { fakeBefore, fakePeak, appBefore, appPeak, fakePeakDuringOurs } },
  };
}
