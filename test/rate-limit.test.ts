import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createChatFixture, type ChatFixture } from './helpers/fake-upstream.js';

describe('rate limiting of model-calling routes (in-process store)', () => {
  let f: ChatFixture;
  let alice: string;
  let bob: string;
  before(async () => {
    f = await createChatFixture({ env: { RATE_LIMIT_PER_MINUTE: '3' } });
    alice = (await f.t.createUser('alice')).apiKey;
    bob = (await f.t.createUser('bob')).apiKey;
  });
  after(() => f.close());

  const chat = (key: string) => f.t.request({ method: 'POST', url: '/chat', key, json: { message: 'hi' } });

  test('answers 429 rate_limited after the limit, with Retry-After and RateLimit-* headers', async () => {
    for (let i = 1; i <= 3; i++) {
      const res = await chat(alice);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers['ratelimit-limit'], '3');
      assert.equal(res.headers['ratelimit-remaining'], String(3 - i));
      assert.ok(Number(res.headers['ratelimit-reset']) > 0 && Number(res.headers['ratelimit-reset']) <= 60);
    }
    const upstreamCalls = f.fake.counters.chat;
    const res = await chat(alice);
    assert.equal(res.statusCode, 429);
    const body = res.json();
    assert.deepEqual(Object.keys(body), ['error']);
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'request_id']);
    assert.equal(body.error.code, 'rate_limited');
    assert.equal(body.error.request_id, res.headers['x-request-id']);
    const retryAfter = Number(res.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${res.headers['retry-after']}`);
    assert.equal(res.headers['ratelimit-limit'], '3');
    assert.equal(res.headers['ratelimit-remaining'], '0');
    assert.ok(Number(res.headers['ratelimit-reset']) >= 1);
    assert.equal(f.fake.counters.chat, upstreamCalls, 'a refused request never reaches the model');
    // Every model-calling route shares the key's counter.
    const stream = await f.t.request({ method: 'POST', url: '/chat/stream', key: alice, json: { message: 'hi' } });
    assert.equal(stream.statusCode, 429);
  });

  test("is per API key: another user's key still passes", async () => {
    const res = await chat(bob);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['ratelimit-remaining'], '2');
  });

  test('does not limit routes that do not call the model', async () => {
    for (let i = 0; i < 6; i++) {
      const res = await f.t.request({ method: 'GET', url: '/conversations', key: alice });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['ratelimit-limit'], undefined);
    }
    assert.equal((await f.t.request({ method: 'GET', url: '/health' })).statusCode, 200);
  });

  test('an unauthenticated request is refused with 401 before any limit is counted', async () => {
    const res = await f.t.request({ method: 'POST', url: '/chat', key: 'oab_unknown', json: { message: 'hi' } });
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['ratelimit-limit'], undefined);
  });
});

describe('token budget (TOKENS_PER_MINUTE)', () => {
  let f: ChatFixture;
  before(async () => {
    f = await createChatFixture({ env: { TOKENS_PER_MINUTE: '40' } });
  });
  after(() => f.close());

  test("refuses model calls with 429 rate_limited once the key's tokens this minute cannot take another call", async () => {
    const { apiKey } = await f.t.createUser();
    const chat = () => f.t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: 'hello there' } });
    let used = 0;
    let refused;
    for (let i = 0; i < 10 && !refused; i++) {
      const res = await chat();
      if (res.statusCode === 429) refused = res;
      else {
        assert.equal(res.statusCode, 200, res.body);
        used += res.json().tokens_used;
      }
    }
    assert.ok(refused, 'refused within 10 requests');
    // Refused once the next call's expected tokens (its prompt and a reply of up to OPENAI_MAX_TOKENS) no longer fit.
    assert.ok(used > 0 && used <= 40, `refused before the budget was overspent (${used} tokens)`);
    assert.equal(refused.json().error.code, 'rate_limited');
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60);
    // Streams count too, and are refused as well.
    const stream = await f.t.request({ method: 'POST', url: '/chat/stream', key: apiKey, json: { message: 'x' } });
    assert.equal(stream.statusCode, 429);
    // Another key has its own budget.
    const other = await f.t.createUser('other');
    assert.equal((await f.t.request({ method: 'POST', url: '/chat', key: other.apiKey, json: { message: 'hi' } })).statusCode, 200);
  });

  test('stream usage is recorded against the budget', async () => {
    const { apiKey } = await f.t.createUser('streamer');
    const stream = () => f.t.request({ method: 'POST', url: '/chat/stream', key: apiKey, json: { message: 'hello there' } });
    let statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await stream()).statusCode);
    assert.ok(statuses.includes(429), `statuses ${statuses.join(',')}`);
  });
});

describe('RATE_LIMIT_ENABLED=false', () => {
  test('no limit and no RateLimit headers', async () => {
    const f = await createChatFixture({ env: { RATE_LIMIT_ENABLED: 'false', RATE_LIMIT_PER_MINUTE: '1' } });
    try {
      const { apiKey } = await f.t.createUser();
      for (let i = 0; i < 3; i++) {
        const res = await f.t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: 'hi' } });
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['ratelimit-limit'], undefined);
      }
    } finally {
      await f.close();
    }
  });
});
