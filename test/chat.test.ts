import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { TEST_DATABASES } from './helpers/databases.js';
import { chatRequests, createChatFixture, type ChatFixture } from './helpers/fake-upstream.js';
import { createTestApp } from './helpers/test-app.js';

for (const database of TEST_DATABASES) {
  describe(`POST /chat (${database.name})`, () => {
    let f: ChatFixture;
    let alice: string;
    let bob: string;
    before(async () => {
      f = await createChatFixture({ database });
      alice = (await f.t.createUser('alice')).apiKey;
      bob = (await f.t.createUser('bob')).apiKey;
    });
    beforeEach(() => f.fake.reset());
    after(() => f.close());

    const chat = (key: string, body: Record<string, unknown>) => f.t.request({ method: 'POST', url: '/chat', key, json: body });
    const messagesOf = async (key: string, id: string) =>
      (await f.t.request({ method: 'GET', url: `/conversations/${id}/messages`, key })).json().data;

    test('a message without conversation_id starts a conversation and stores both messages with token counts', async () => {
      const res = await chat(alice, { message: 'hello there' });
      assert.equal(res.statusCode, 200);
      const body = res.json();
      assert.equal(body.message, 'You said: hello there');
      assert.ok(body.conversation_id);
      assert.ok(Number.isInteger(body.tokens_used) && body.tokens_used > 0);
      const stored = await messagesOf(alice, body.conversation_id);
      assert.deepEqual(stored.map((m: any) => [m.role, m.content, m.status]), [
        ['user', 'hello there', 'complete'],
        ['assistant', 'You said: hello there', 'complete'],
      ]);
      assert.ok(stored.every((m: any) => m.tokens > 3), 'content tokens plus the per-message overhead');
      const conversation = (await f.t.request({ method: 'GET', url: `/conversations/${body.conversation_id}`, key: alice })).json();
      assert.equal(conversation.title, 'hello there', 'the title defaults to the start of the first message');
    });

    test('tokens_used is the upstream usage total', async () => {
      const body = (await chat(alice, { message: 'count me' })).json();
      assert.equal(chatRequests(f.fake).length, 1);
      // The fake's rule: prompt = sum(ceil(chars/4)+4) over messages, completion = words of the reply.
      const sent = chatRequests(f.fake)[0]!.body.messages as Array<{ content: string }>;
      const prompt = sent.reduce((s, m) => s + Math.ceil(m.content.length / 4) + 4, 0);
      assert.equal(body.tokens_used, prompt + 'You said: count me'.split(' ').length);
    });

    test('later turns send the system prompt and the stored history, oldest first', async () => {
      const first = (await chat(alice, { message: 'my name is Ada' })).json();
      await chat(alice, { message: 'what is my name?', conversation_id: first.conversation_id });
      const sent = chatRequests(f.fake).at(-1)!.body.messages;
      assert.deepEqual(sent, [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'my name is Ada' },
        { role: 'assistant', content: 'You said: my name is Ada' },
        { role: 'user', content: 'what is my name?' },
      ]);
      assert.equal((await messagesOf(alice, first.conversation_id)).length, 4);
    });

    test('POST /chat/conversations/{id}/messages continues the conversation like /chat with its id', async () => {
      const first = (await chat(alice, { message: 'one' })).json();
      const res = await f.t.request({ method: 'POST', url: `/chat/conversations/${first.conversation_id}/messages`, key: alice, json: { message: 'two' } });
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().message, 'You said: two');
      assert.ok(Number.isInteger(res.json().tokens_used));
      assert.equal((await messagesOf(alice, first.conversation_id)).length, 4);
    });

    test("another user's conversation answers 404 and never reaches the model", async () => {
      const first = (await chat(alice, { message: 'secret plans' })).json();
      f.fake.reset();
      const res = await chat(bob, { message: 'show me', conversation_id: first.conversation_id });
      assert.equal(res.statusCode, 404);
      assert.equal(res.json().error.code, 'not_found');
      const viaPath = await f.t.request({ method: 'POST', url: `/chat/conversations/${first.conversation_id}/messages`, key: bob, json: { message: 'x' } });
      assert.equal(viaPath.statusCode, 404);
      assert.equal(f.fake.counters.chat, 0);
      assert.equal((await messagesOf(alice, first.conversation_id)).length, 2);
    });

    test('a conversation deleted while its turn waits for the model answers 404, and nothing is stored for it', async () => {
      for (const path of ['/chat', '/chat/stream']) {
        const id = (await chat(alice, { message: 'first' })).json().conversation_id;
        const turn = f.t.request({ method: 'POST', url: path, key: alice, json: { message: '[[delay:300]] second', conversation_id: id } });
        const deadline = Date.now() + 5000;
        while (chatRequests(f.fake).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        const deleted = await f.t.request({ method: 'DELETE', url: `/conversations/${id}`, key: alice });
        assert.equal(deleted.statusCode, 204);
        const res = await turn;
        if (path === '/chat') {
          assert.equal(res.statusCode, 404, res.body);
          assert.equal(res.json().error.code, 'not_found');
        } else {
          // The stream had begun: it ends with the error event instead of [DONE].
          assert.equal(res.statusCode, 200);
          const events = res.body.trim().split('\n\n');
          const data = events.at(-1)!.split('\n').find((line) => line.startsWith('data: '))!;
          assert.equal(JSON.parse(data.slice(6)).code, 'not_found', res.body);
          assert.ok(!res.body.includes('[DONE]'));
        }
        assert.equal((await f.t.request({ method: 'GET', url: `/conversations/${id}/messages`, key: alice })).statusCode, 404);
        f.fake.reset();
      }
    });

    test('empty, blank or missing messages answer 422 naming the field', async () => {
      for (const body of [{ message: '' }, { message: '   ' }, {}, { message: 42 }]) {
        const res = await chat(alice, body);
        assert.equal(res.statusCode, 422, JSON.stringify(body));
        assert.match(res.json().error.message, /message/);
      }
      assert.equal(f.fake.counters.chat, 0);
    });

    test('the request id is sent upstream as x-request-id', async () => {
      await f.t.request({ method: 'POST', url: '/chat', key: alice, json: { message: 'trace me' }, headers: { 'x-request-id': 'req-abc-123' } });
      assert.equal(chatRequests(f.fake)[0]!.headers['x-request-id'], 'req-abc-123');
    });

    test('concurrent turns in one conversation are all stored, each reply after its own question', async () => {
      const first = (await chat(alice, { message: 'start' })).json();
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => chat(alice, { message: `q${i}`, conversation_id: first.conversation_id })),
      );
      assert.ok(results.every((r) => r.statusCode === 200));
      const stored = await messagesOf(alice, first.conversation_id);
      assert.equal(stored.length, 14);
      for (let i = 0; i < 6; i++) {
        const q = stored.findIndex((m: any) => m.content === `q${i}`);
        const a = stored.findIndex((m: any) => m.content === `You said: q${i}`);
        assert.ok(q >= 0 && a > q, `q${i} stored before its reply`);
      }
    });
  });
}

describe('history budget', () => {
  let f: ChatFixture;
  let key: string;
  before(async () => {
    f = await createChatFixture({ env: { HISTORY_MAX_TOKENS: '80', SYSTEM_PROMPT: 'Be brief.' } });
    key = (await f.t.createUser()).apiKey;
  });
  beforeEach(() => f.fake.reset());
  after(() => f.close());

  test('the oldest messages are dropped first and the system prompt is always kept', async () => {
    let id: string | undefined;
    for (let i = 0; i < 8; i++) {
      const res = await f.t.request({ method: 'POST', url: '/chat', key, json: { message: `turn number ${i} here`, ...(id && { conversation_id: id }) } });
      assert.equal(res.statusCode, 200);
      id = res.json().conversation_id;
    }
    const sent = chatRequests(f.fake).at(-1)!.body.messages as Array<{ role: string; content: string }>;
    assert.deepEqual(sent[0], { role: 'system', content: 'Be brief.' });
    assert.deepEqual(sent.at(-1), { role: 'user', content: 'turn number 7 here' });
    assert.ok(sent.length < 16, `history was trimmed (sent ${sent.length} messages)`);
    assert.ok(!sent.some((m) => m.content === 'turn number 0 here'), 'the oldest turn was dropped');
    // What was kept is the newest contiguous run: the message before the new one is the last reply.
    assert.deepEqual(sent.at(-2), { role: 'assistant', content: 'You said: turn number 6 here' });
    const stored = (await f.t.request({ method: 'GET', url: `/conversations/${id}/messages`, key })).json().data;
    const kept = sent.length - 1;
    const budgetUsed = stored.slice(-kept).reduce((s: number, m: any) => s + m.tokens, 0);
    assert.ok(budgetUsed <= 80, `kept messages fit the budget (${budgetUsed})`);
    assert.equal(stored.length, 16, 'nothing is deleted, only left out of the request');
  });

  test('a message that alone exceeds the budget answers 422 context_length_exceeded without calling upstream or storing', async () => {
    const res = await f.t.request({ method: 'POST', url: '/chat', key, json: { message: 'lorem ipsum dolor '.repeat(40) } });
    assert.equal(res.statusCode, 422);
    assert.equal(res.json().error.code, 'context_length_exceeded');
    assert.equal(f.fake.counters.requests, 0);
    const list = (await f.t.request({ method: 'GET', url: '/conversations', key })).json().data;
    assert.ok(!list.some((c: any) => c.title?.startsWith('lorem')), 'no conversation was created');
  });
});

describe('no provider configured', () => {
  test('model endpoints answer 503 provider_not_configured saying what to set; the rest works', async () => {
    const t = await createTestApp();
    try {
      const { apiKey } = await t.createUser();
      for (const url of ['/chat', '/chat/stream']) {
        const res = await t.request({ method: 'POST', url, key: apiKey, json: { message: 'hi' } });
        assert.equal(res.statusCode, 503, url);
        assert.equal(res.json().error.code, 'provider_not_configured');
        assert.match(res.json().error.message, /OPENAI_API_KEY/);
      }
      assert.equal((await t.request({ method: 'GET', url: '/conversations', key: apiKey })).json().data.length, 0, 'nothing was stored');
    } finally {
      await t.close();
    }
  });
});
