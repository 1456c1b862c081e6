/**
 * The usage ledger: every model call adds its tokens and one request to (user, day, model),
 * on both databases; GET /usage shows the caller its own, GET /admin/usage everyone's, and
 * the sums equal the tokens the API itself reported.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { utcDay } from '../src/services/usage-ledger.js';
import { TEST_DATABASES } from './helpers/databases.js';
import { createChatFixture, parseSse, type ChatFixture } from './helpers/fake-upstream.js';
import { runAdmin } from './helpers/admin.js';

const ADMIN_KEY = 'admin-test-key-0123456789abcdef';
/** The fake's embedding usage: ceil(chars / 4) per input (docs/fake-openai.md). */
const embeddingTokens = (...texts: string[]) => texts.reduce((sum, t) => sum + Math.ceil(t.length / 4), 0);

interface Row {
  day: string;
  model: string;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  user_id?: string;
}

for (const database of TEST_DATABASES) {
  describe(`usage ledger (${database.name})`, () => {
    let f: ChatFixture;
    let base: string;
    before(async () => {
      f = await createChatFixture({ database, env: { ADMIN_API_KEY: ADMIN_KEY, OPENAI_MODEL: 'gpt-4.1-mini' } });
      base = await f.t.listen();
    });
    after(() => f.close());

    const post = async (key: string, path: string, body: unknown) => {
      const res = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.ok(res.ok, `${path}: ${res.status}`);
      return res;
    };
    const usageOf = async (key: string, query = '') => {
      const res = await f.t.request({ method: 'GET', url: `/usage${query}`, key });
      assert.equal(res.statusCode, 200, res.body);
      return res.json() as { from: string; to: string; data: Row[] };
    };
    const byModel = (rows: Row[]) => Object.fromEntries(rows.map((r) => [r.model, r]));

    test('chat, streamed chat, agent (each iteration, its tool embedding a task), tasks, search and /v1 all add up to what the API reported', async () => {
      const { id: userId, apiKey } = await f.t.createUser('spender');
      const { apiKey: idle } = await f.t.createUser('idle');
      let chatTokens = 0;
      let chatRequests = 0;

      chatTokens += ((await (await post(apiKey, '/chat', { message: 'hello there' })).json()) as { tokens_used: number }).tokens_used;
      chatRequests++;
      const events = parseSse(await (await post(apiKey, '/chat/stream', { message: 'stream me' })).text());
      chatTokens += (events.find((e) => (e as { usage?: unknown }).usage) as { usage: { total_tokens: number } }).usage.total_tokens;
      chatRequests++;
      const agent = (await (await post(apiKey, '/agent', { message: '[[tool:create_task {"title":"agent task"}]] make one' })).json()) as {
        tokens_used: number;
        iterations: number;
      };
      assert.equal(agent.iterations, 2);
      chatTokens += agent.tokens_used;
      chatRequests += agent.iterations;

      await post(apiKey, '/tasks', { title: 'write the report', description: 'by friday' });
      await post(apiKey, '/search/semantic', { query: 'report' });
      const embedTokens = embeddingTokens('agent task', 'write the report\n\nby friday', 'report');

      const v1 = (await (await post(apiKey, '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })).json()) as {
        usage: { total_tokens: number };
      };
      const streamed = parseSse(
        await (
          await post(apiKey, '/v1/chat/completions', { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi again' }] })
        ).text(),
      );
      assert.ok(!streamed.some((e) => (e as { usage?: unknown }).usage), 'the client did not ask for usage');
      const v1Embedded = (await (await post(apiKey, '/v1/embeddings', { model: 'text-embedding-3-small', input: ['one', 'two'] })).json()) as {
        usage: { total_tokens: number };
      };
      // The streamed /v1 call's usage was asked for on the client's behalf: the same prompt size as 'hi again' answered plainly.
      const streamedTokens = ((await (await post(idle, '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi again' }] })).json()) as { usage: { total_tokens: number } }).usage.total_tokens;

      const mine = await usageOf(apiKey);
      assert.equal(mine.to, utcDay());
      for (const row of mine.data) assert.equal(row.day, utcDay());
      const rows = byModel(mine.data);
      assert.deepEqual(Object.keys(rows).sort(), ['gpt-4.1-mini', 'gpt-4o-mini', 'text-embedding-3-small']);
      assert.equal(rows['gpt-4.1-mini']!.total_tokens, chatTokens);
      assert.equal(rows['gpt-4.1-mini']!.requests, chatRequests);
      assert.equal(rows['gpt-4.1-mini']!.prompt_tokens + rows['gpt-4.1-mini']!.completion_tokens, chatTokens);
      assert.equal(rows['gpt-4o-mini']!.total_tokens, v1.usage.total_tokens + streamedTokens);
      assert.equal(rows['gpt-4o-mini']!.requests, 2);
      assert.equal(rows['text-embedding-3-small']!.total_tokens, embedTokens + v1Embedded.usage.total_tokens);
      assert.equal(rows['text-embedding-3-small']!.requests, 4, 'two task embeddings, one search query, one /v1 call');

      // The other user sees only its own one call; the admin sees both, by user.
      assert.deepEqual((await usageOf(idle)).data.map((r) => [r.model, r.requests]), [['gpt-4o-mini', 1]]);
      const all = await f.t.request({ method: 'GET', url: '/admin/usage', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
      const adminRows = (all.json() as { data: Row[] }).data.filter((r) => r.user_id === userId);
      assert.deepEqual(adminRows.map(({ user_id: _u, ...r }) => r), mine.data);
    });

    test('a range without today is empty; from/to are validated (422 naming the field)', async () => {
      const { apiKey } = await f.t.createUser();
      await post(apiKey, '/chat', { message: 'hello' });
      assert.deepEqual((await usageOf(apiKey, '?from=2020-01-01&to=2020-01-31')).data, []);
      assert.equal((await usageOf(apiKey, `?from=${utcDay()}&to=${utcDay()}`)).data.length, 1);
      for (const query of ['?from=yesterday', '?to=2026-13-01', '?from=2026-02-30', '?from=2026-02-02&to=2026-02-01', '?from=2020-01-01&to=2026-01-01']) {
        const res = await f.t.request({ method: 'GET', url: `/usage${query}`, key: apiKey });
        assert.equal(res.statusCode, 422, query);
        assert.equal(res.json().error.code, 'validation_error');
        assert.match(res.json().error.message, /from|to/);
      }
      assert.equal((await f.t.request({ method: 'GET', url: '/usage' })).statusCode, 401);
    });

    test('a failed call adds nothing; the admin CLI prints usage as JSON lines', async () => {
      const { id, apiKey } = await f.t.createUser();
      await post(apiKey, '/chat', { message: 'counted' });
      const failed = await f.t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: '[[error:400]] not counted' } });
      assert.ok(failed.statusCode >= 400);
      const rows = (await usageOf(apiKey)).data;
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.requests, 1);
      const cli = await runAdmin(['usage', '--user', id], { DATABASE_URL: f.t.config.database.url });
      assert.equal(cli.code, 0, cli.stderr);
      const lines = cli.stdout.trim().split('\n').map((l) => JSON.parse(l) as Row);
      assert.deepEqual(lines, rows.map((r) => ({ user_id: id, ...r })));
    });
  });
}

describe('usage ledger writes', () => {
  test('sums kept in memory are written when the app closes', async () => {
    const f = await createChatFixture({ env: { USAGE_FLUSH_MS: '60000' } });
    try {
      const { id, apiKey } = await f.t.createUser();
      const res = await f.t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: 'hello' } });
      const day = utcDay();
      assert.deepEqual(await f.t.storage.usage.list({ from: day, to: day, userId: id }), [], 'not written yet');
      await f.t.app.close();
      const rows = await f.t.storage.usage.list({ from: day, to: day, userId: id });
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.totalTokens, res.json().tokens_used);
    } finally {
      await f.close();
    }
  });

  test('USAGE_FLUSH_MS=0 writes each call through', async () => {
    const f = await createChatFixture({ env: { USAGE_FLUSH_MS: '0' } });
    try {
      const { id, apiKey } = await f.t.createUser();
      let total = 0;
      for (let i = 0; i < 3; i++) total += (await f.t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: `hello ${i}` } })).json().tokens_used;
      const usage = (await f.t.request({ method: 'GET', url: '/usage', key: apiKey })).json() as { data: Row[] };
      assert.equal(usage.data[0]!.total_tokens, total);
      assert.equal(usage.data[0]!.requests, 3);
      assert.equal((await f.t.storage.usage.list({ from: utcDay(), to: utcDay(), userId: id }))[0]!.requests, 3);
    } finally {
      await f.close();
    }
  });

  test('USAGE_LEDGER_ENABLED=false records nothing', async () => {
    const f = await createChatFixture({ env: { USAGE_LEDGER_ENABLED: 'false' } });
    try {
      const { apiKey } = await f.t.createUser();
      await f.t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: 'hello' } });
      assert.deepEqual((await f.t.request({ method: 'GET', url: '/usage', key: apiKey })).json().data, []);
    } finally {
      await f.close();
    }
  });
});
