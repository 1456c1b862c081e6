/**
 * POST /v1/responses continuing a 1,000-item and a 10,000-item conversation (and
 * previous_response_id chains as long) against a new one, beside /chat doing the same on the
 * same conversations (one store: a Responses conversation is one of ours), in one run: c=1
 * p50 and c=32 throughput. A turn reads its history newest first until MODEL_CONTEXT_TOKENS
 * (HISTORY_MAX_TOKENS for /chat) is full, so its cost is bounded by the budget, not by the
 * conversation's length: the ratio 10,000 / 1,000 says by how much (1.00× = not at all);
 * long / new is the cost of a full budget.
 */
import { type LoadResult, type LoadTarget, loadSideBySide } from '../lib/load.js';
import { fmt, type Section } from '../lib/report.js';
import { type BenchContext, bearer } from './context.js';

/** The two lengths compared: a turn must cost the same on both. */
export const LENGTHS = [1000, 10000] as const;
/** Each seeded item's text: about 25 tokens, so 1,000 of them are ~25,000 tokens, far over the budget. */
const ITEM_TEXT = 'This is an earlier turn of a long conversation, kept for the benchmark of bounded history reads.';

export interface ResponsesApp {
  origin: string;
  pid: number;
  apiKey: string;
  /** The app's MODEL_CONTEXT_TOKENS / HISTORY_MAX_TOKENS, for the notes. */
  budget: number;
}

async function post(app: ResponsesApp, path: string, body: unknown): Promise<any> {
  const res = await fetch(`${app.origin}${path}`, { method: 'POST', headers: { ...bearer(app.apiKey), 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** A conversation of `length` items, user and assistant in turn, through the Conversations API (20 items a request, its maximum). */
async function longConversation(app: ResponsesApp, length: number): Promise<string> {
  const { id } = await post(app, '/v1/conversations', {});
  for (let n = 0; n < length; n += 20) {
    const items = Array.from({ length: 20 }, (_, i) => ({ role: (n + i) % 2 ? 'assistant' : 'user', content: `${n + i}: ${ITEM_TEXT}` }));
    await post(app, `/v1/conversations/${id}/items`, { items });
  }
  return id as string;
}

/** A previous_response_id chain of `length` items (a user item and its answer per response); its newest response's id. */
async function longChain(app: ResponsesApp, length: number): Promise<string> {
  let previous: string | undefined;
  for (let n = 0; n < length; n += 2) {
    const r = await post(app, '/v1/responses', { model: 'gpt-4o-mini', truncation: 'auto', input: `[[reply:${n + 1}: ${ITEM_TEXT}]] ${n}: ${ITEM_TEXT}`, ...(previous && { previous_response_id: previous }) });
    previous = r.id as string;
  }
  return previous!;
}

export async function v1ResponsesScenario(ctx: BenchContext, app: ResponsesApp): Promise<Section> {
  const { settings, log } = ctx;
  const [short, long] = LENGTHS;
  log(`seeding conversations and previous_response_id chains of ${LENGTHS.join(' and ')} items`);
  const conversations = { short: await longConversation(app, short), long: await longConversation(app, long) };
  const chains = { short: await longChain(app, short), long: await longChain(app, long) };
  const cpu = { app: app.pid, fake: ctx.fake.pid };
  const target = (path: string, body: unknown): LoadTarget => ({ url: `${app.origin}${path}`, method: 'POST', headers: bearer(app.apiKey), body, cpu });
  const input = 'hello';
  const responses = (more: object) => target('/v1/responses', { model: 'gpt-4o-mini', input, ...more });
  const targets = {
    responsesNew: responses({}),
    responsesConversationShort: responses({ conversation: conversations.short, truncation: 'auto' }),
    responsesConversationLong: responses({ conversation: conversations.long, truncation: 'auto' }),
    // The same previous response every time: each turn branches from a chain that keeps its length.
    responsesChainShort: responses({ previous_response_id: chains.short, truncation: 'auto' }),
    responsesChainLong: responses({ previous_response_id: chains.long, truncation: 'auto' }),
    chatNew: target('/chat', { message: input }),
    chatConversationShort: target('/chat', { message: input, conversation_id: conversations.short }),
    chatConversationLong: target('/chat', { message: input, conversation_id: conversations.long }),
  };
  const results = await loadSideBySide(targets, { high: settings.highConcurrency, low: settings.lowConcurrency, durationS: settings.durationS, warmupS: settings.warmupS, log });

  type Pair = { high: LoadResult; low: LoadResult };
  const row = (name: string, fresh: Pair, shorter: Pair, longer: Pair) => [
    name,
    fmt.ms(fresh.low.p50),
    fmt.ms(shorter.low.p50),
    fmt.ms(longer.low.p50),
    fmt.ratio(longer.low.p50 / shorter.low.p50),
    fmt.rps(fresh.high.rps),
    fmt.rps(shorter.high.rps),
    fmt.rps(longer.high.rps),
    fmt.ratio(shorter.high.rps / longer.high.rps),
  ];
  const errors = Object.values(results).reduce((n, r) => n + r.high.errors + r.high.non2xx + r.low.errors + r.low.non2xx, 0);
  const n = (count: number) => count.toLocaleString('en-US');
  return {
    title: `POST /v1/responses continuing ${n(short)}- and ${n(long)}-item conversations vs a new one, beside /chat`,
    tables: [
      {
        columns: [
          'endpoint',
          'new: c=1 p50',
          `${n(short)}: c=1 p50`,
          `${n(long)}: c=1 p50`,
          `p50 ${n(long)} / ${n(short)}`,
          'new: c=32 req/s',
          `${n(short)}: c=32 req/s`,
          `${n(long)}: c=32 req/s`,
          `throughput ${n(short)} / ${n(long)}`,
        ],
        rows: [
          row('/v1/responses + conversation', results.responsesNew, results.responsesConversationShort, results.responsesConversationLong),
          row('/v1/responses + previous_response_id', results.responsesNew, results.responsesChainShort, results.responsesChainLong),
          row('/chat + conversation_id', results.chatNew, results.chatConversationShort, results.chatConversationLong),
        ],
      },
    ],
    notes: [
      `Each seeded item is ~25 tokens, so ${n(short)} items are ~25,000 tokens; the budget is ${app.budget} tokens (MODEL_CONTEXT_TOKENS for /v1/responses with truncation "auto", HISTORY_MAX_TOKENS for /chat), so a turn sends and reads only the newest ~${Math.round(app.budget / 25)} items.`,
      `The ratios ${n(long)} / ${n(short)} show what the length costs once the budget is full (1.00× = nothing); new vs ${n(short)} is the cost of a full budget (reading and sending ~${app.budget} tokens).`,
      '/chat continues the same conversations as /v1/responses (one store). Every turn is stored; the conversations grow during the run, the chains do not (each turn branches from the same response).',
      `Non-2xx answers and errors over all phases: ${errors}.`,
    ],
    targets: [],
    data: results,
  };
}
