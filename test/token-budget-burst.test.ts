/**
 * TOKENS_PER_MINUTE under a burst: each model call reserves its expected tokens before it
 * goes upstream, atomically, so 50 calls at once cannot overspend the budget together
 * (with a read before and an add after they spent 6.3× it).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAI, type FakeOpenAI } from '../src/fake-openai/server.js';
import { currentWindow } from '../src/limits/token-budget-store.js';
import { createUserKey } from './helpers/admin.js';
import { redisKeyPrefix, TEST_DATABASES } from './helpers/databases.js';
import { createChatFixture } from './helpers/fake-upstream.js';
import { startServerProcess, type ServerProcess } from './helpers/server-process.js';

const REDIS = process.env.TEST_REDIS_URL;
const BUDGET = 1000;
const BURST = 50;
/** About 125 tokens a call, as in the burst that overspent: a 100-word reply to a short prompt. */
const MESSAGE = '[[words:100]] tell me a story';
const env = { TOKENS_PER_MINUTE: String(BUDGET), OPENAI_MAX_TOKENS: '300', RATE_LIMIT_PER_MINUTE: '100000' };

/**
 * Sends the burst; returns the tokens the served calls report and how many were served and refused.
 * Budgets are counted in fixed one-minute windows on the clock, so a burst across a window's end
 * may spend a budget in each: the burst waits for the next window when this one ends within 5 s.
 */
async function burst(send: (i: number) => Promise<{ status: number; tokens?: number }>) {
  const { resetMs } = currentWindow();
  if (resetMs < 5_000) await new Promise((resolve) => setTimeout(resolve, resetMs + 50));
  const results = await Promise.all(Array.from({ length: BURST }, (_, i) => send(i)));
  for (const r of results) assert.ok(r.status === 200 || r.status === 429, `status ${r.status}`);
  const served = results.filter((r) => r.status === 200);
  return { spent: served.reduce((sum, r) => sum + r.tokens!, 0), served: served.length, refused: results.length - served.length };
}

describe('token budget under a burst of concurrent calls', () => {
  test(`${BURST} concurrent /chat calls spend at most 1.2× TOKENS_PER_MINUTE on one instance`, async () => {
    const f = await createChatFixture({ env });
    try {
      const { apiKey } = await f.t.createUser();
      const { spent, served } = await burst(async () => {
        const res = await f.t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: MESSAGE } });
        return { status: res.statusCode, ...(res.statusCode === 200 && { tokens: res.json().tokens_used as number }) };
      });
      assert.ok(served >= 1, 'the first call into an empty minute is served');
      assert.ok(spent <= 1.2 * BUDGET, `spent ${spent} tokens against a budget of ${BUDGET} (${served} served)`);
    } finally {
      await f.close();
    }
  });

  test('the same burst on /v1/chat/completions, streamed or not, stays within 1.2× too', async () => {
    const f = await createChatFixture({ env });
    try {
      const { apiKey } = await f.t.createUser();
      const base = await f.t.listen();
      const { spent, served } = await burst(async (i) => {
        const stream = i % 2 === 1;
        const res = await fetch(`${base}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: MESSAGE }], stream, ...(stream && { stream_options: { include_usage: true } }) }),
        });
        const text = await res.text();
        if (res.status !== 200) return { status: res.status };
        const usage = stream ? JSON.parse(text.split('\n\n').filter((e) => e.includes('"usage":{')).at(-1)!.slice(6)).usage : JSON.parse(text).usage;
        return { status: 200, tokens: usage.total_tokens as number };
      });
      assert.ok(served >= 1);
      assert.ok(spent <= 1.2 * BUDGET, `spent ${spent} tokens against a budget of ${BUDGET} (${served} served)`);
    } finally {
      await f.close();
    }
  });

  test('a call refused for tokens reaches no upstream, and a settled reservation frees what it did not use', async () => {
    const f = await createChatFixture({ env: { ...env, TOKENS_PER_MINUTE: '400' } });
    try {
      const { apiKey } = await f.t.createUser();
      const chat = () => f.t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: 'hello' } });
      // The first call holds its prompt and 300 reply tokens, and settles with ~20.
      assert.equal((await chat()).statusCode, 200);
      // Learned: a reply here is short, so several more fit in what was freed.
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await chat()).statusCode);
      assert.deepEqual(statuses, [200, 200, 200, 200, 200]);
      const before = f.fake.counters.chat;
      const big = await f.t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: `[[words:300]] ${'word '.repeat(300)}` } });
      if (big.statusCode === 429) assert.equal(f.fake.counters.chat, before, 'refused before going upstream');
    } finally {
      await f.close();
    }
  });
});

describe('token budget under a burst, two instances sharing Redis', { skip: !REDIS && 'TEST_REDIS_URL not set' }, () => {
  const SQLITE = TEST_DATABASES[0]!;
  let fake: FakeOpenAI;
  let db: Awaited<ReturnType<typeof SQLITE.create>>;
  let servers: ServerProcess[] = [];
  before(async () => {
    fake = await startFakeOpenAI();
    db = await SQLITE.create();
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await fake.close();
    await db.drop();
  });

  test(`${BURST} concurrent calls split over both spend at most 1.2× the budget`, async () => {
    const shared = { ...env, DATABASE_URL: db.url, REDIS_URL: REDIS!, REDIS_KEY_PREFIX: redisKeyPrefix(), OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: 'sk-test' };
    servers = await Promise.all([startServerProcess(shared), startServerProcess(shared)]);
    const key = await createUserKey({ DATABASE_URL: db.url }, 'burst');
    const { spent, served } = await burst(async (i) => {
      const res = await fetch(`${servers[i % 2]!.url}/chat`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ message: MESSAGE }),
      });
      const body = (await res.json()) as { tokens_used?: number };
      return { status: res.status, ...(res.status === 200 && { tokens: body.tokens_used! }) };
    });
    assert.ok(served >= 1);
    assert.ok(spent <= 1.2 * BUDGET, `spent ${spent} tokens against a budget of ${BUDGET} (${served} served)`);
  });
});
