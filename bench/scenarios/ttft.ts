/**
 * Streaming time to first token, one request at a time: the fake streamed directly
 * vs our POST /chat/stream. Requests alternate between the two (warm-up included),
 * so both see the same machine.
 */
import http from 'node:http';
import { fmt, type Section } from '../lib/report.js';
import { summarize } from '../lib/stats.js';
import { appFirstToken, openAIFirstToken, type StreamTarget, timeToFirstToken } from '../lib/ttft.js';
import { type AppUnderTest, type BenchContext, bearer, directChatBody } from './context.js';

const MESSAGE = 'hello';

export async function ttftScenario(ctx: BenchContext, app: AppUnderTest): Promise<Section> {
  const { ttftRequests: n, ttftWarmup: warm } = ctx.settings;
  const direct: StreamTarget = {
    url: `${ctx.fake.baseUrl}/chat/completions`,
    headers: bearer('sk-bench'),
    body: directChatBody(MESSAGE, { stream: true }),
    isFirstToken: openAIFirstToken,
  };
  const ours: StreamTarget = {
    url: `${app.origin}/chat/stream`,
    headers: bearer(app.apiKey),
    body: { message: MESSAGE },
    isFirstToken: appFirstToken,
  };
  // One keep-alive connection per target, as a client holding a connection open would.
  const directAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const oursAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const directMs: number[] = [];
  const oursMs: number[] = [];
  ctx.log(`time to first token: ${warm} warm-up + ${n} requests each, alternating`);
  try {
    for (let i = 0; i < warm + n; i++) {
      const d = await timeToFirstToken(directAgent, direct);
      const o = await timeToFirstToken(oursAgent, ours);
      if (i >= warm) {
        directMs.push(d);
        oursMs.push(o);
      }
    }
  } finally {
    directAgent.destroy();
    oursAgent.destroy();
  }
  const d = summarize(directMs);
  const o = summarize(oursMs);
  return {
    title: `4. Streaming time to first token (${app.db.label})`,
    tables: [
      {
        columns: ['stream', 'requests', 'p50', 'p99', 'min', 'p50 − direct', 'p99 − direct'],
        rows: [
          ['fake `POST /v1/chat/completions` stream, direct (baseline)', String(d.n), fmt.ms(d.p50), fmt.ms(d.p99), fmt.ms(d.min), fmt.deltaMs(0), fmt.deltaMs(0)],
          ['app `POST /chat/stream`, new conversation', String(o.n), fmt.ms(o.p50), fmt.ms(o.p99), fmt.ms(o.min), fmt.deltaMs(o.p50 - d.p50), fmt.deltaMs(o.p99 - d.p99)],
        ],
      },
    ],
    notes: [
      'From sending the request to the first event carrying content: `data: {"content"` for us, the first chunk with non-empty delta.content directly. Each stream is then read to its end.',
      'Ours includes auth, storing the conversation and the user message, and the upstream request: all before the first token.',
    ],
    targets: [],
    data: { directMs, oursMs },
  };
}
