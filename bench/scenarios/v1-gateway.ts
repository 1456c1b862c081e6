/**
 * POST /v1/chat/completions, plain and streamed, through five endpoints side by side:
 * the fake called directly, a bare node:http pass-through proxy (the floor of any Node
 * gateway), a Fastify + undici relay doing nothing else (the floor of a gateway built as
 * ours is), ours, and the Portkey gateway from npm; at c=1 (latency) and c=32
 * (throughput). Our own `/chat` and `/chat/stream` (a new conversation each) run in the
 * same phases, so `/chat` can be compared with Portkey's /v1.
 */
import { loadSideBySide, type LoadResult, type SideBySide } from '../lib/load.js';
import type { FakeProcess } from '../lib/processes.js';
import { fmt, type Section, type Target } from '../lib/report.js';
import type { BenchContext } from './context.js';
import { completionBody, completionTargets, ownChatTarget, present, type V1Setup } from './v1-context.js';

const MESSAGE = 'hello';

const NAMES: Record<string, string> = {
  direct: 'fake `POST /v1/chat/completions` direct (baseline)',
  bare: 'bare node:http pass-through proxy → fake (the floor of a Node gateway)',
  fastify: 'Fastify + undici relay → fake, nothing else (the floor of a Fastify gateway)',
  ours: 'ours `POST /v1/chat/completions`',
  portkey: 'Portkey gateway 1.15.2 → fake',
  chat: 'ours `POST /chat`, new conversation (not a pass-through: auth, 2 writes, token count)',
  directStream: 'fake stream direct (baseline)',
  bareStream: 'bare node:http pass-through proxy → fake',
  fastifyStream: 'Fastify + undici relay → fake',
  oursStream: 'ours `POST /v1/chat/completions`, `stream: true`',
  portkeyStream: 'Portkey gateway 1.15.2 → fake (with bench/lib/portkey-stream-fix.mjs)',
  chatStream: 'ours `POST /chat/stream`, new conversation',
};

export async function v1GatewayScenario(ctx: BenchContext, fake: FakeProcess, setup: V1Setup): Promise<Section> {
  const { settings } = ctx;
  const plain = completionTargets(fake, setup, completionBody(MESSAGE, false));
  const streamed = completionTargets(fake, setup, completionBody(MESSAGE, true));
  const targets = present({
    direct: plain.direct,
    bare: plain.bare,
    fastify: plain.fastify,
    ours: plain.ours,
    portkey: plain.portkey,
    chat: ownChatTarget(fake, setup.app, MESSAGE, false),
    directStream: streamed.direct,
    bareStream: streamed.bare,
    fastifyStream: streamed.fastify,
    oursStream: streamed.ours,
    portkeyStream: streamed.portkey,
    chatStream: ownChatTarget(fake, setup.app, MESSAGE, true),
  });
  const results: Record<string, SideBySide> = await loadSideBySide(targets, {
    high: settings.highConcurrency,
    low: settings.lowConcurrency,
    durationS: settings.durationS,
    warmupS: settings.warmupS,
    log: ctx.log,
  });
  const c1 = settings.lowConcurrency;
  const c32 = settings.highConcurrency;
  const get = (key: string): SideBySide | undefined => results[key];
  const direct = get('direct')!;
  const bare = get('bare')!;
  const portkey = get('portkey')!;
  const directStream = get('directStream')!;
  const bareStream = get('bareStream')!;
  const portkeyStream = get('portkeyStream')!;
  const ours = get('ours');
  const oursStream = get('oursStream');
  const chat = get('chat')!;

  const failures = (r: SideBySide) => [r.high.errors + r.low.errors, r.high.non2xx + r.low.non2xx];
  const plainRows = ['direct', 'bare', 'fastify', 'ours', 'portkey', 'chat'].flatMap((key) => {
    const r = get(key);
    if (!r) return [[NAMES[key]!, 'not run: no /v1 route yet', '–', '–', '–', '–', '–', '–', '–', '–', '–', '–']];
    const [errors, non2xx] = failures(r);
    return [
      [
        NAMES[key]!,
        fmt.ms(r.low.p50),
        fmt.ms(r.low.p99),
        fmt.deltaMs(r.low.p50 - direct.low.p50),
        fmt.rps(r.high.rps),
        fmt.percent(r.high.rps / direct.high.rps),
        fmt.percent(r.high.rps / bare.high.rps),
        fmt.ms(r.high.p50),
        fmt.us(r.high.cpuUsPerResponse?.gateway),
        fmt.us(r.high.cpuUsPerResponse?.fake),
        String(errors),
        String(non2xx),
      ],
    ];
  });
  const streamRows = ['directStream', 'bareStream', 'fastifyStream', 'oursStream', 'portkeyStream', 'chatStream'].flatMap((key) => {
    const r = get(key);
    if (!r) return [[NAMES[key]!, 'not run: no /v1 route yet', '–', '–', '–', '–', '–', '–', '–', '–', '–', '–']];
    const [errors, non2xx] = failures(r);
    return [
      [
        NAMES[key]!,
        fmt.ms(r.low.firstTokenP50),
        fmt.deltaMs(r.low.firstTokenP50! - directStream.low.firstTokenP50!),
        fmt.ms(r.low.firstByteP50),
        fmt.ms(r.low.p50),
        fmt.rps(r.high.rps),
        fmt.percent(r.high.rps / directStream.high.rps),
        fmt.percent(r.high.rps / bareStream.high.rps),
        fmt.ms(r.high.firstTokenP50),
        fmt.us(r.high.cpuUsPerResponse?.gateway),
        String(errors),
        `${non2xx} / ${(r.high.badStreams ?? 0) + (r.low.badStreams ?? 0)}`,
      ],
    ];
  });

  const scenario = '/v1 gateway';
  const goals: Target[] = [];
  let floorNote: string | undefined;
  if (ours && oursStream) {
    const share = ours.high.rps / bare.high.rps;
    const shareStream = oursStream.high.rps / bareStream.high.rps;
    const vsPortkey = ours.high.rps / portkey.high.rps;
    const vsPortkeyStream = oursStream.high.rps / portkeyStream.high.rps;
    const fastify = get('fastify')!;
    const fastifyStream = get('fastifyStream')!;
    floorNote =
      `Against the Fastify + undici floor (bench/lib/fastify-floor.mjs: the same framework and HTTP client, nothing else done): ours ${fmt.percent(ours.high.rps / fastify.high.rps)} of its rps ` +
      `and ${fmt.percent(oursStream.high.rps / fastifyStream.high.rps)} of its streams/s at c=${c32}; the floor itself ${fmt.percent(fastify.high.rps / bare.high.rps)} / ` +
      `${fmt.percent(fastifyStream.high.rps / bareStream.high.rps)} of the bare proxy's.`;
    const added = ours.low.p50 - direct.low.p50;
    const addedFirstToken = oursStream.low.firstTokenP50! - directStream.low.firstTokenP50!;
    goals.push(
      { scenario, name: `ours / bare proxy rps at c=${c32}`, measured: fmt.percent(share), limit: '≥ 60%', met: share >= 0.6 },
      { scenario, name: `ours / bare proxy streams/s at c=${c32} (stream: true)`, measured: fmt.percent(shareStream), limit: '≥ 60%', met: shareStream >= 0.6 },
      { scenario, name: `ours / Portkey rps at c=${c32}`, measured: fmt.ratio(vsPortkey), limit: '≥ 5.00×', met: vsPortkey >= 5 },
      { scenario, name: `ours / Portkey streams/s at c=${c32} (stream: true)`, measured: fmt.ratio(vsPortkeyStream), limit: '≥ 5.00×', met: vsPortkeyStream >= 5 },
      { scenario, name: `ours p50 − direct p50 at c=${c1}`, measured: fmt.deltaMs(added), limit: '≤ +0.30 ms', met: added <= 0.3 },
      { scenario, name: `ours first token p50 − direct at c=${c1} (stream: true)`, measured: fmt.deltaMs(addedFirstToken), limit: '≤ +0.30 ms', met: addedFirstToken <= 0.3 },
    );
  }
  const chatVsPortkey = chat.high.rps / portkey.high.rps;
  goals.push({ scenario, name: `ours /chat rps / Portkey /v1 rps at c=${c32}`, measured: fmt.ratio(chatVsPortkey), limit: '≥ 3.00×', met: chatVsPortkey >= 3 });

  const loadCpu = (r: LoadResult | undefined) => fmt.us(r?.cpuUsPerResponse?.load);
  return {
    title: '1. `/v1/chat/completions` gateway: direct, bare proxy, Fastify floor, ours, Portkey',
    tables: [
      {
        columns: [
          'non-streaming',
          `c=${c1} p50`,
          `c=${c1} p99`,
          'p50 − direct',
          `c=${c32} rps`,
          'rps vs direct',
          'rps vs bare proxy',
          `c=${c32} p50`,
          'gateway CPU / response',
          'fake CPU / response',
          'errors',
          'non-2xx',
        ],
        rows: plainRows,
      },
      {
        columns: [
          'streaming',
          `c=${c1} first token p50`,
          'first token − direct',
          `c=${c1} first byte p50`,
          `c=${c1} whole stream p50`,
          `c=${c32} streams/s`,
          'vs direct',
          'vs bare proxy',
          `c=${c32} first token p50`,
          'gateway CPU / stream',
          'errors',
          'non-2xx / no [DONE]',
        ],
        rows: streamRows,
      },
    ],
    notes: [
      ...(floorNote ? [floorNote] : []),
      `Every /v1 endpoint gets the same body, what the direct baseline sends: model, [system, user "${MESSAGE}"], max_completion_tokens, temperature; ` +
        'streamed with `stream: true` alone (no stream_options, as the OpenAI SDK sends it by default). The fake answers "You said: hello" (3 content chunks).',
      'Phases run one target at a time, all targets at c=32, then all at c=1, after a warm-up of each; one autocannon in the bench process. ' +
        'Load generator, fake, gateway and (idle) other gateways share the 2 cores.',
      'First byte / first token: from writing the request to the first body bytes / the first event with non-empty `content`, on each autocannon connection. ' +
        'Whole stream: autocannon latency to the last byte.',
      'CPU per response: utime+stime from /proc/PID/stat over the c=32 phase, divided by the 2xx responses (10 ms ticks). ' +
        `The load generator spent ${loadCpu(direct.high)} per response on the direct target, ${loadCpu(ours?.high)} on ours, ${loadCpu(portkey.high)} on Portkey.`,
      `The bare proxy (bench/lib/proxy-floor.mjs, PROXY_MODE=pass-through) pipes the request bytes to the fake on a keep-alive agent and pipes the answer back; nothing parsed.`,
      `Portkey: \`node node_modules/@portkey-ai/gateway/build/start-server.js --port=N --headless\`, headers x-portkey-provider: openai, x-portkey-custom-host: ${fake.baseUrl}. ` +
        (setup.portkey.streamFix
          ? 'Its streaming answers 500 as installed here (TypeError: immutable, @hono/node-server > 1.14.2: Portkey-AI/gateway#1389, #1550); ' +
            'bench/lib/portkey-stream-fix.mjs is preloaded, which copies event-stream upstream responses into a Response with mutable headers; JSON answers are untouched. '
          : 'Run as installed (BENCH_PORTKEY_SHIM=0). ') +
        'Its generic stream path waits 25 ms before relaying the first chunk (a setTimeout in its build), which shows in its first-token time.',
    ],
    targets: goals,
    data: results,
  };
}
