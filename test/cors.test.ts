import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestApp, type TestApp } from './helpers/test-app.js';

const ALLOWED = 'https://app.example.com';

describe('CORS with CORS_ORIGINS set', () => {
  let t: TestApp;
  let key: string;
  before(async () => {
    t = await createTestApp({ env: { CORS_ORIGINS: `${ALLOWED}, https://admin.example.com` } });
    key = (await t.createUser()).apiKey;
  });
  after(() => t.close());

  test('an allowed origin gets the headers, with credentials and the exposed headers', async () => {
    const res = await t.request({ method: 'GET', url: '/conversations', key, headers: { origin: ALLOWED } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['access-control-allow-origin'], ALLOWED);
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    const exposed = String(res.headers['access-control-expose-headers']).toLowerCase();
    for (const h of ['x-request-id', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset']) assert.ok(exposed.includes(h), h);
  });

  test('a disallowed origin gets no CORS headers', async () => {
    const res = await t.request({ method: 'GET', url: '/conversations', key, headers: { origin: 'https://evil.example.com' } });
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    assert.equal(res.headers['access-control-allow-credentials'], undefined);
  });

  test('a preflight works without auth and allows authorization and content-type', async () => {
    const res = await t.request({
      method: 'OPTIONS',
      url: '/chat',
      headers: { origin: ALLOWED, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    assert.ok(res.statusCode === 204 || res.statusCode === 200, String(res.statusCode));
    assert.equal(res.headers['access-control-allow-origin'], ALLOWED);
    const allowed = String(res.headers['access-control-allow-headers']).toLowerCase();
    assert.ok(allowed.includes('authorization') && allowed.includes('content-type'));
    assert.match(String(res.headers['access-control-allow-methods']), /POST/);
  });

  test('errors carry the CORS headers too, so the browser can read them', async () => {
    const res = await t.request({ method: 'GET', url: '/conversations', headers: { origin: ALLOWED } });
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['access-control-allow-origin'], ALLOWED);
  });
});

test('no CORS headers at all when CORS_ORIGINS is empty', async () => {
  const t = await createTestApp();
  try {
    const res = await t.request({ method: 'GET', url: '/health', headers: { origin: ALLOWED } });
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    const preflight = await t.request({
      method: 'OPTIONS',
      url: '/chat',
      headers: { origin: ALLOWED, 'access-control-request-method': 'POST' },
    });
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);
    assert.equal(preflight.headers['access-control-allow-methods'], undefined);
  } finally {
    await t.close();
  }
});
