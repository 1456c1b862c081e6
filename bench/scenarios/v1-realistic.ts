/**
 * The gateways against an upstream that answers like a real model: 200 ms before the
 * first token, then a chunk every 30 ms (fake directives), at c=32. Throughput is bound
 * by the upstream here, so this shows what each gateway adds to a request that takes
 * most of a second, not how many it can relay.
 */
import { loadEach, type LoadResult } from '../lib/load.js';
import type { FakeProcess } from '../lib/processes.js';
import { fmt, type Section } from '../lib/report.js';
import type { BenchContext } from './context.js';
import { completionBody, completionTargets, ownChatTarget, present, type V1Setup } from './v1-context.js';

const WORDS = 20;
const FIRST_TOKEN_MS = 200;
const CHUNK_MS = 30;
export const REALISTIC_MESSAGE = `[[delay:${FIRST_TOKEN_MS}]] [[chunk-delay:${CHUNK_MS}]] [[words:${WORDS}]]`;

const NAMES: Record<string, string> = {
  direct: 'fake direct (baseline)',
  bare: 'bare node:http pass-through proxy',
  ours: 'ours `POST /v1/chat/completions`',
  portkey: 'Portkey gateway',
  chat: 'ours `POST /chat`, new conversation',
  directStream: 'fake stream direct (baseline)',
  bareStream: 'bare node:http pass-through proxy, streamed',
  oursStream: 'ours `/v1/chat/completions`, `stream: true`',
  portkeyStream: 'Portkey gateway, streamed',
  chatStream: 'ours `POST /chat/stream`, new conversation',
};

export async function v1RealisticScenario(ctx: BenchContext, fake: FakeProcess, setup: V1Setup): Promise<Section> {
  const { settings } = ctx;
  const c = settings.highConcurrency;
  const plain = completionTargets(fake, setup, completionBody(REALISTIC_MESSAGE, false));
  const streamed = completionTargets(fake, setup, completionBody(REALISTIC_MESSAGE, true));
  const targets = present({
    direct: plain.direct,
    bare: plain.bare,
    ours: plain.ours,
    portkey: plain.portkey,
    chat: ownChatTarget(fake, setup.app, REALISTIC_MESSAGE, false),
    directStream: streamed.direct,
    bareStream: streamed.bare,
    oursStream: streamed.ours,
    portkeyStream: streamed.portkey,
    chatStream: ownChatTarget(fake, setup.app, REALISTIC_MESSAGE, true),
  });
  // Each request lasts ~0.2 s (plain) or ~0.8 s (streamed): measure a little longer than the fast scenarios.
  const durationS = Math.max(settings.durationS, settings.quick ? 2 : 8);
  const results: Record<string, LoadResult> = await loadEach(targets, { connections: c, durationS, warmupS: Math.max(settings.warmupS, 1), log: ctx.log });

  const row = (key: string, base: LoadResult, stream: boolean): string[] => {
    const r = results[key];
    if (!r) return [NAMES[key]!, 'not run: no /v1 route yet', ...Array<string>(stream ? 9 : 7).fill('–')];
    const common = [NAMES[key]!, fmt.rps(r.rps), fmt.percent(r.rps / base.rps), fmt.ms(r.p50), fmt.deltaMs(r.p50 - base.p50), fmt.ms(r.p99)];
    const tail = [fmt.us(r.cpuUsPerResponse?.gateway), String(r.errors), stream ? `${r.non2xx} / ${r.badStreams ?? 0}` : String(r.non2xx)];
    return stream ? [...common, fmt.ms(r.firstTokenP50), fmt.deltaMs(r.firstTokenP50! - base.firstTokenP50!), ...tail] : [...common, ...tail];
  };
  const direct = results.direct!;
  const directStream = results.directStream!;
  return {
    title: `3. Realistic upstream (${FIRST_TOKEN_MS} ms to the first token, a chunk every ${CHUNK_MS} ms), c=${c}`,
    tables: [
      {
        columns: ['non-streaming', 'rps', 'rps vs direct', 'p50', 'added p50', 'p99', 'gateway CPU / response', 'errors', 'non-2xx'],
        rows: ['direct', 'bare', 'ours', 'portkey', 'chat'].map((k) => row(k, direct, false)),
      },
      {
        columns: ['streaming', 'streams/s', 'vs direct', 'whole stream p50', 'added p50', 'p99', 'first token p50', 'added first token', 'gateway CPU / stream', 'errors', 'non-2xx / no [DONE]'],
        rows: ['directStream', 'bareStream', 'oursStream', 'portkeyStream', 'chatStream'].map((k) => row(k, directStream, true)),
      },
    ],
    notes: [
      `User message \`${REALISTIC_MESSAGE}\`: the fake waits ${FIRST_TOKEN_MS} ms, then streams ${WORDS} words ${CHUNK_MS} ms apart (≈${FIRST_TOKEN_MS + (WORDS - 1) * CHUNK_MS} ms); ` +
        `a plain request waits the ${FIRST_TOKEN_MS} ms only (chunk-delay applies to streams). ${durationS} s per target at c=${c}, same body to every /v1 endpoint.`,
      'Added = p50 − the direct p50 in this run. With the upstream this slow, c=32 is far below any gateway\'s capacity: rps ≈ 32 / latency for all of them, so the added latency is the comparison.',
    ],
    targets: [],
    data: { message: REALISTIC_MESSAGE, results },
  };
}
