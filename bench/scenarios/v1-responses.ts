/**
 * POST /v1/responses continuing a 1,000-item conversation (and a 1,000-item
 * previous_response_id chain) against a new one, beside /chat doing the same, in one run:
 * c=1 p50 and c=32 throughput. A turn reads its history newest first until
 * MODEL_CONTEXT_TOKENS (HISTORY_MAX_TOKENS for /chat) is full, so its cost is bounded by the
 * budget, not the conversation's length: the ratio long / new says by how much.
 */
import { type LoadResult, type LoadTarget, loadSideBySide } from '../lib/load.js';
import { fmt, type Section } from '../lib/report.js';
import { type BenchContext, bearer } from './context.js';

export const LONG_ITEMS = 1000;
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

/** A conversation of LONG_ITEMS items, user and assistant in turn, through the Conversations API (20 items a request, its maximum). */
async function longConversation(app: ResponsesApp): Promise<string> {
  const { id } = await post(app, '/v1/conversations', {});
  for (let n = 0; n < LONG_ITEMS; n += 20) {
    const items = Array.from({ length: 20 }, (_, i) => ({ role: (n + i) % 2 ? 'assistant' : 'user', content: `${n + i}: ${ITEM_TEXT}` }));
    await post(app, `/v1/conversations/${id}/items`, { items });
  }
  return id as string;
}

/** A previous_response_id chain of LONG_ITEMS items (a user item and its answer per response); its newest response's id. */
async function longChain(app: ResponsesApp): Promise<string> {
  let previous: string | undefined;
  for (let n = 0; n < LONG_ITEMS; n += 2) {
    const r = await post(app, '/v1/responses', { model: 'gpt-4o-mini', truncation: 'auto', input: `[[reply:${n + 1}: ${ITEM_TEXT}]] ${n}: ${ITEM_TEXT}`, ...(previous && { previous_response_id: previous }) });
    previous = r.id as string;
  }
  return previous!;
}

export async function v1ResponsesScenario(ctx: BenchContext, app: ResponsesApp): Promise<Section> {
  const { settings, log } = ctx;
  log(`seeding a ${LONG_ITEMS}-item conversation and a ${LONG_ITEMS}-item previous_response_id chain`);
  const conversation = await longConversation(app);
  const chain = await longChain(app);
  const cpu = { app: app.pid, fake: ctx.fake.pid };
  const target = (path: string, body: unknown): LoadTarget => ({ url: `${app.origin}${path}`, method: 'POST', headers: bearer(app.apiKey), body, cpu });
  const input = 'hello';
  const targets = {
    responsesNew: target('/v1/responses', { model: 'gpt-4o-mini', input }),
    responsesConversation: target('/v1/responses', { model: 'gpt-4o-mini', input, conversation, truncation: 'auto' }),
    // The same previous response every time: each turn branches from a chain that stays 1,000 items long.
    responsesChain: target('/v1/responses', { model: 'gpt-4o-mini', input, previous_response_id: chain, truncation: 'auto' }),
    chatNew: target('/chat', { message: input }),
    chatConversation: target('/chat', { message: input, conversation_id: conversation }),
  };
  const results = await loadSideBySide(targets, { high: settings.highConcurrency, low: settings.lowConcurrency, durationS: settings.durationS, warmupS: settings.warmupS, log });

  const row = (name: string, long: { high: LoadResult; low: LoadResult }, fresh: { high: LoadResult; low: LoadResult }) => [
    name,
    fmt.ms(fresh.low.p50),
    fmt.ms(long.low.p50),
    fmt.ratio(long.low.p50 / fresh.low.p50),
    fmt.rps(fresh.high.rps),
    fmt.rps(long.high.rps),
    fmt.ratio(fresh.high.rps / long.high.rps),
  ];
  const errors = Object.values(results).reduce((n, r) => n + r.high.errors + r.high.non2xx + r.low.errors + r.low.non2xx, 0);
  return {
    title: `POST /v1/responses continuing a ${LONG_ITEMS}-item conversation vs a new one, beside /chat`,
    tables: [
      {
        columns: ['endpoint', 'new: c=1 p50', `${LONG_ITEMS} items: c=1 p50`, 'p50 ratio', 'new: c=32 req/s', `${LONG_ITEMS} items: c=32 req/s`, 'throughput ratio'],
        rows: [
          row('/v1/responses + conversation', results.responsesConversation, results.responsesNew),
          row('/v1/responses + previous_response_id', results.responsesChain, results.responsesNew),
          row('/chat + conversation_id', results.chatConversation, results.chatNew),
        ],
      },
    ],
    notes: [
      `Each seeded item is ~25 tokens, so ${LONG_ITEMS} items are ~25,000 tokens; the budget is ${app.budget} tokens (MODEL_CONTEXT_TOKENS for /v1/responses with truncation "auto", HISTORY_MAX_TOKENS for /chat), so a turn sends and reads only the newest ~${Math.round(app.budget / 25)} items.`,
      'Ratios: long / new for p50 (1.00× = the conversation length costs nothing), new / long for throughput.',
      'Every turn is stored (store defaults to true); the conversation rows grow during the run, the chain rows do not (each turn branches from the same response).',
      `Non-2xx answers and errors over all phases: ${errors}.`,
    ],
    targets: [],
    data: results,
  };
}
