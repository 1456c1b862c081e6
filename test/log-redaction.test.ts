import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createChatFixture } from './helpers/fake-upstream.js';

const OPENAI_KEY = 'sk-secret-upstream-key-0123456789';

test('no API key, OpenAI key or authorization header appears in the logs of chats, streams, errors and auth failures', async () => {
  const f = await createChatFixture({ fakeApiKey: OPENAI_KEY, env: { OPENAI_MAX_RETRIES: '0', RATE_LIMIT_PER_MINUTE: '6' } });
  try {
    const { apiKey } = await f.t.createUser();
    const chat = (url: string, key: string, message = 'a private message') =>
      f.t.request({ method: 'POST', url, key, json: { message } });
    assert.equal((await chat('/chat', apiKey)).statusCode, 200);
    assert.equal((await chat('/chat/stream', apiKey)).statusCode, 200);
    f.fake.addFault({ path: 'chat', status: 500, times: 1 });
    assert.equal((await chat('/chat', apiKey)).statusCode, 502);
    f.fake.addFault({ path: 'chat', status: 401, times: 1 });
    assert.equal((await chat('/chat', apiKey)).statusCode, 502);
    // An unknown key that looks real, and a malformed header.
    assert.equal((await chat('/chat', `${apiKey.slice(0, -4)}AAAA`)).statusCode, 401);
    assert.equal((await f.t.request({ method: 'GET', url: '/tasks', headers: { authorization: apiKey } })).statusCode, 401);
    for (let i = 0; i < 4; i++) await chat('/chat', apiKey);

    const text = f.t.logText();
    assert.ok(text.includes('"msg":"upstream call"'), 'upstream calls are logged');
    assert.ok(text.includes('"msg":"request"'));
    assert.ok(!text.includes(apiKey), 'our API key never appears');
    assert.ok(!text.includes(apiKey.slice(4, 20)), 'not even part of it');
    assert.ok(!/oab_[A-Za-z0-9_-]{10,}/.test(text), 'no key-looking string');
    assert.ok(!text.includes(OPENAI_KEY), 'the OpenAI key never appears');
    assert.ok(!/bearer /i.test(text), 'no authorization header');
    assert.ok(!text.includes('a private message'), 'message contents are not logged at info');

    const calls = f.t.logs.filter((l) => l.msg === 'upstream call');
    const ok = calls.find((l) => l.outcome === 'success' && l.stream === false)!;
    assert.equal(ok.model, f.t.config.openai.model);
    assert.equal(ok.attempts, 1);
    assert.equal(typeof ok.duration_ms, 'number');
    assert.ok((ok.prompt_tokens as number) > 0 && (ok.completion_tokens as number) > 0);
    assert.ok(ok.reqId, 'under the request id');
    assert.ok(calls.some((l) => l.stream === true && l.outcome === 'success'));
    assert.ok(calls.some((l) => l.outcome === 'upstream_error'));
    assert.ok(calls.some((l) => l.outcome === 'upstream_auth_failed'));
  } finally {
    await f.close();
  }
});

test('the per-call log line counts every attempt of a retried call', async () => {
  const f = await createChatFixture({ env: { OPENAI_MAX_RETRIES: '3' } });
  try {
    const { apiKey } = await f.t.createUser();
    f.fake.addFault({ path: 'chat', status: 503, times: 2, retryAfterMs: '1' });
    const res = await f.t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: 'hi' } });
    assert.equal(res.statusCode, 200);
    const line = f.t.logs.find((l) => l.msg === 'upstream call');
    assert.equal(line?.attempts, 3);
    assert.equal(line?.outcome, 'success');
    assert.equal(line?.reqId, res.headers['x-request-id']);
  } finally {
    await f.close();
  }
});

test('a secret logged by mistake is redacted at any of four levels, in errors too; everything else is logged as it was', async () => {
  const { Writable } = await import('node:stream');
  const { default: pino } = await import('pino');
  const { loggerOptions, redactSecrets } = await import('../src/http/logger.js');
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString()), done()) });
  const log = pino(loggerOptions('info'), sink);

  const error = Object.assign(new Error('upstream failed'), { status: 401, config: { headers: { Authorization: 'Bearer sk-in-an-error' } } });
  const request = { headers: { authorization: 'Bearer oab_secret', cookie: 'sid=secret', 'x-api-key': 'sk-x-api-key', accept: 'json' } };
  const config = { openai: { apiKey: 'sk-config' }, redisUrl: 'redis://:password@host', port: 8000 };
  log.info({ req: request, config, api_key: 'sk-top', nested: { deeper: { api_key: 'sk-deep' } }, list: [{ apiKey: 'sk-in-list' }], count: 3 }, 'oops');
  log.error({ err: error }, 'failed');
  const text = lines.join('');
  for (const secret of ['oab_secret', 'sid=secret', 'sk-x-api-key', 'sk-config', 'password@host', 'sk-top', 'sk-deep', 'sk-in-list', 'sk-in-an-error']) {
    assert.ok(!text.includes(secret), `${secret} is not logged`);
  }
  const [first, second] = lines.map((l) => JSON.parse(l));
  assert.equal(first.req.headers.accept, 'json');
  assert.equal(first.req.headers.authorization, '[redacted]');
  assert.equal(first.config.port, 8000);
  assert.equal(first.count, 3);
  assert.equal(second.err.message, 'upstream failed');
  assert.equal(second.err.type, 'Error');
  assert.ok(second.err.stack.includes('upstream failed'));
  assert.equal(second.err.status, 401);
  assert.equal(second.err.config.headers.Authorization, '[redacted]');
  // The logged objects themselves are left as they were.
  assert.equal(request.headers.authorization, 'Bearer oab_secret');
  assert.equal(error.config.headers.Authorization, 'Bearer sk-in-an-error');

  const clean = { method: 'POST', route: '/chat', status: 200, nested: { a: [1, 2] } };
  assert.equal(redactSecrets(clean), clean, 'an object without secrets is not copied');
});
