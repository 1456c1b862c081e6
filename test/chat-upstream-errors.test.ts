import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { createTestApp } from './helpers/test-app.js';
import { createChatFixture, type ChatFixture } from './helpers/fake-upstream.js';

describe('upstream retries and error mapping', () => {
  let f: ChatFixture;
  let key: string;
  before(async () => {
    f = await createChatFixture({ env: { OPENAI_MAX_RETRIES: '3', OPENAI_TIMEOUT: '0.5' } });
    key = (await f.t.createUser()).apiKey;
  });
  beforeEach(() => f.fake.reset());
  after(() => f.close());

  const chat = () => f.t.request({ method: 'POST', url: '/chat', key, json: { message: 'hello' } });
  const expectError = (res: Awaited<ReturnType<typeof chat>>, status: number, code: string) => {
    assert.equal(res.statusCode, status, res.body);
    assert.equal(res.json().error.code, code);
    assert.equal(res.json().error.request_id, res.headers['x-request-id']);
  };

  test('two 503s then success is three attempts and a normal reply', async () => {
    f.fake.addFault({ path: 'chat', status: 503, times: 2, retryAfterMs: '1' });
    const res = await chat();
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().message, 'You said: hello');
    assert.equal(f.fake.counters.chat, 3);
  });

  test('connection errors are retried too', async () => {
    f.fake.addFault({ path: 'chat', drop: true, times: 1 });
    const res = await chat();
    assert.equal(res.statusCode, 200);
    assert.equal(f.fake.counters.chat, 2);
  });

  test('retry-after-ms is honoured before the next attempt', async () => {
    f.fake.addFault({ path: 'chat', status: 429, times: 1, retryAfterMs: '300' });
    const res = await chat();
    assert.equal(res.statusCode, 200);
    const [first, second] = f.fake.requests.filter((r) => r.path === '/v1/chat/completions');
    assert.ok(second!.at - first!.at >= 290, `waited ${second!.at - first!.at} ms`);
  });

  test('retry-after (seconds) is honoured too', async () => {
    f.fake.addFault({ path: 'chat', status: 503, times: 1, retryAfter: '1' });
    await chat();
    const [first, second] = f.fake.requests.filter((r) => r.path === '/v1/chat/completions');
    assert.ok(second!.at - first!.at >= 990, `waited ${second!.at - first!.at} ms`);
  });

  test('still rate-limited after the retries answers 429 upstream_rate_limited with Retry-After', async () => {
    f.fake.addFault({ path: 'chat', status: 429, times: 4, retryAfterMs: '2' });
    const res = await chat();
    expectError(res, 429, 'upstream_rate_limited');
    assert.equal(res.headers['retry-after'], '1');
    assert.equal(f.fake.counters.chat, 4, 'one attempt and OPENAI_MAX_RETRIES=3 retries');
  });

  test('a Retry-After longer than we wait inside a request is passed to the caller at once', async () => {
    f.fake.addFault({ path: 'chat', status: 429, times: 1, retryAfter: '120' });
    const res = await chat();
    expectError(res, 429, 'upstream_rate_limited');
    assert.equal(res.headers['retry-after'], '120');
    assert.equal(f.fake.counters.chat, 1);
  });

  test('5xx after the retries answers 502 upstream_error', async () => {
    f.fake.addFault({ path: 'chat', status: 500, times: 4, retryAfterMs: '1' });
    expectError(await chat(), 502, 'upstream_error');
    assert.equal(f.fake.counters.chat, 4);
  });

  for (const status of [400, 404, 422]) {
    test(`${status} is not retried and answers 502 upstream_error`, async () => {
      f.fake.addFault({ path: 'chat', status, times: 5 });
      expectError(await chat(), 502, 'upstream_error');
      assert.equal(f.fake.counters.chat, 1);
    });
  }

  test('a reply that is not a chat completion answers 502 upstream_error', async () => {
    f.fake.addFault({ path: 'chat', body: 'this is not json', times: 1 });
    expectError(await chat(), 502, 'upstream_error');
  });

  test('the user message is kept when the model call fails', async () => {
    f.fake.addFault({ path: 'chat', status: 500, times: 4, retryAfterMs: '1' });
    await chat();
    const list = (await f.t.request({ method: 'GET', url: '/conversations', key })).json().data;
    const messages = (await f.t.request({ method: 'GET', url: `/conversations/${list[0].id}/messages`, key })).json().data;
    assert.deepEqual(messages.map((m: any) => [m.role, m.content]), [['user', 'hello']]);
  });
});

describe('upstream timeouts, authentication and reachability', () => {
  test('an upstream that does not answer in OPENAI_TIMEOUT answers 504 upstream_timeout', async () => {
    const f = await createChatFixture({ env: { OPENAI_TIMEOUT: '0.2', OPENAI_MAX_RETRIES: '1' } });
    try {
      const { apiKey } = await f.t.createUser();
      f.fake.addFault({ path: 'chat', delayMs: 3000, times: 10 });
      const res = await f.t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: 'slow' } });
      assert.equal(res.statusCode, 504);
      assert.equal(res.json().error.code, 'upstream_timeout');
      assert.equal(f.fake.counters.chat, 2, 'a timed-out attempt is retried');
    } finally {
      await f.close();
    }
  });

  test('a rejected key answers 502 upstream_auth_failed, is not retried and never shows the key', async () => {
    const f = await createChatFixture({ fakeApiKey: 'sk-the-right-key', env: { OPENAI_API_KEY: 'sk-wrong-secret-key-123' } });
    try {
      const { apiKey } = await f.t.createUser();
      const res = await f.t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: 'hi' } });
      assert.equal(res.statusCode, 502);
      assert.equal(res.json().error.code, 'upstream_auth_failed');
      assert.equal(f.fake.counters.requests, 1);
      assert.ok(!res.body.includes('sk-wrong'), 'the key is not in the response');
      assert.ok(!f.t.logText().includes('sk-wrong-secret-key-123'), 'the key is not in the logs');
    } finally {
      await f.close();
    }
  });

  test('an unreachable upstream answers 502 upstream_unavailable', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const t = await createTestApp({ env: { OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1`, OPENAI_MAX_RETRIES: '1' } });
    try {
      const { apiKey } = await t.createUser();
      const res = await t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: 'hi' } });
      assert.equal(res.statusCode, 502);
      assert.equal(res.json().error.code, 'upstream_unavailable');
    } finally {
      await t.close();
    }
  });
});
