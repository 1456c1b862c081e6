/**
 * Blocking chat: the fake's POST /v1/chat/completions called directly (the request the
 * SDK makes for us) vs our POST /chat starting a new conversation per request vs our
 * POST /chat continuing one conversation of 1,000+ stored messages.
 */
import { loadSideBySide } from '../lib/load.js';
import { startProxyFloor } from '../lib/processes.js';
import { inspectConversation } from '../lib/seed.js';
import { fmt, type Section, type Target } from '../lib/report.js';
import { loadTokenCounter } from '../../src/services/token-counter.js';
import { type AppUnderTest, type BenchContext, bearer, directChatBody, directLongChatBody, SDK_CHAT_DEFAULTS, SYSTEM_PROMPT } from './context.js';

const MESSAGE = 'hello';
/** What the fake answers to MESSAGE. */
const REPLY = `You said: ${MESSAGE}`;
const HISTORY_MAX_TOKENS = 6000;

export async function chatScenario(ctx: BenchContext, app: AppUnderTest): Promise<Section> {
  const { settings } = ctx;
  const headers = bearer(app.apiKey);
  const inspect = () =>
    inspectConversation(app.db.url, app.seeded.longConversationId, { historyMaxTokens: HISTORY_MAX_TOKENS, systemPrompt: SYSTEM_PROMPT, message: MESSAGE });
  const before = await inspect();
  const floorRequest = { fields: SDK_CHAT_DEFAULTS, systemPrompt: SYSTEM_PROMPT };
  const floor = await startProxyFloor(ctx.fake.origin, floorRequest);
  const longBody = directLongChatBody(MESSAGE, REPLY, HISTORY_MAX_TOKENS, await loadTokenCounter('gpt-4o-mini'));
  const results = await loadSideBySide(
    {
      direct: {
        url: `${ctx.fake.baseUrl}/chat/completions`,
        method: 'POST',
        headers: bearer('sk-bench'),
        body: directChatBody(MESSAGE),
      },
      directLong: {
        url: `${ctx.fake.baseUrl}/chat/completions`,
        method: 'POST',
        headers: bearer('sk-bench'),
        body: longBody,
      },
      floor: { url: `${floor.origin}/`, method: 'POST', body: { message: MESSAGE } },
      new: { url: `${app.origin}/chat`, method: 'POST', headers, body: { message: MESSAGE } },
      continue: {
        url: `${app.origin}/chat`,
        method: 'POST',
        headers,
        body: { message: MESSAGE, conversation_id: app.seeded.longConversationId },
      },
    },
    { high: settings.highConcurrency, low: settings.lowConcurrency, durationS: settings.durationS, warmupS: settings.warmupS, log: ctx.log },
  );
  await floor.stop();
  const after = await inspect();
  const { direct, directLong, floor: bare, new: fresh, continue: cont } = results;
  const c1 = settings.lowConcurrency;
  const c32 = settings.highConcurrency;
  const names = {
    direct: 'fake `POST /v1/chat/completions` direct (baseline)',
    directLong: `fake direct, with the ${longBody.messages.length.toLocaleString('en-US')} messages a long-conversation turn sends (baseline)`,
    floor: 'bare node:http proxy to the fake (reference: the floor of a Node gateway)',
    new: 'app `POST /chat`, new conversation',
    continue: `app \`POST /chat\`, continuing ${app.seeded.longConversationMessages.toLocaleString('en-US')}-message conversation`,
  };

  const rows = ['direct', 'directLong', 'floor', 'new', 'continue'] as const;
  const latencyRows = rows.map((k) => {
    const r = results[k].low;
    return [names[k], String(c1), fmt.ms(r.p50), fmt.ms(r.p99), fmt.deltaMs(r.p50 - direct.low.p50), fmt.deltaMs(r.p99 - direct.low.p99), fmt.rps(r.rps), String(r.errors), String(r.non2xx)];
  });
  const throughputRows = rows.map((k) => {
    const r = results[k].high;
    return [names[k], String(c32), fmt.rps(r.rps), fmt.percent(r.rps / direct.high.rps), fmt.ms(r.p50), fmt.ms(r.p99), String(r.errors), String(r.non2xx)];
  });

  const scenario = `chat (${app.db.label})`;
  const overhead = fresh.low.p50 - direct.low.p50;
  const share = fresh.high.rps / direct.high.rps;
  const longP50 = cont.low.p50 / fresh.low.p50;
  const longRps = cont.high.rps / fresh.high.rps;
  const ourLongOverhead = cont.low.p50 - directLong.low.p50;
  const targets: Target[] = [
    { scenario, name: `/chat p50 − direct p50 at c=${c1}`, measured: fmt.deltaMs(overhead), limit: '≤ +1 ms', met: overhead <= 1 },
    { scenario, name: `/chat rps at c=${c32} vs direct`, measured: fmt.percent(share), limit: '≥ 20%', met: share >= 0.2 },
    { scenario, name: `continuing long conversation: p50 vs new at c=${c1}`, measured: fmt.ratio(longP50), limit: '≤ 1.20×', met: longP50 <= 1.2 },
    { scenario, name: `continuing long conversation: rps vs new at c=${c32}`, measured: fmt.ratio(longRps), limit: '≥ 0.80×', met: longRps >= 0.8 },
  ];
  return {
    title: `3. Chat (${app.db.label})`,
    tables: [
      { columns: ['request', 'c', 'p50', 'p99', 'p50 − direct', 'p99 − direct', 'rps', 'errors', 'non-2xx'], rows: latencyRows },
      { columns: ['request', 'c', 'rps', 'rps vs direct', 'p50', 'p99', 'errors', 'non-2xx'], rows: throughputRows },
    ],
    notes: [
      `Every request sends "${MESSAGE}"; the fake answers "You said: ${MESSAGE}". Direct calls carry what the SDK sends for us: model, [system, user], max_completion_tokens, temperature.`,
      'A /chat request is a whole round trip through us: auth, validation, database writes (conversation, user message, reply), the model call to the fake, and the response.',
      `The long conversation grows while it is measured (each request appends 2 messages). The history sent upstream is capped by HISTORY_MAX_TOKENS (default 6000): ` +
        `before the runs ${before.messages} stored messages, the newest ${before.historyMessages} (≈${before.historyTokens} tokens) sent on each request; ` +
        `after them ${after.messages} stored, the newest ${after.historyMessages} (≈${after.historyTokens} tokens, mostly short "hello" turns) sent. ` +
        'A new conversation sends 2 messages, so continuing costs more upstream payload, more rows read and more JSON on both sides.',
      `The bare proxy (bench/lib/proxy-floor.mjs: node:http in, one keep-alive node:http call to the fake, JSON out; ` +
        `no framework, validation, database, SDK or logs) is what any Node.js gateway costs at the least: ` +
        `${fmt.percent(bare.high.rps / direct.high.rps)} of direct at c=${c32} and ${fmt.deltaMs(bare.low.p50 - direct.low.p50)} at c=${c1}. ` +
        `We reach ${fmt.percent(fresh.high.rps / bare.high.rps)} of its throughput.`,
      '"No more than 20% slower" is read as p50 ≤ 1.20× and rps ≥ 0.80× those of a new conversation.',
      `The second baseline sends the fake what a long-conversation turn sends once the history is full of short turns ` +
        `(${longBody.messages.length} messages, ${(JSON.stringify(longBody).length / 1024).toFixed(0)} KiB of JSON): the upstream's own cost of a full history. ` +
        `At c=${c1} it answers in ${fmt.ms(directLong.low.p50)} against ${fmt.ms(direct.low.p50)} for 2 messages. ` +
        `Our part of a long turn (its p50 − that baseline's) is ${fmt.deltaMs(ourLongOverhead)}, against ${fmt.deltaMs(overhead)} for a new conversation.`,
    ],
    targets,
    data: { ...results, longConversation: { before, after, ourOverheadMs: ourLongOverhead } },
  };
}
