import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { createTestApp } from './helpers/test-app.js';
import { TEST_DATABASES } from './helpers/databases.js';

for (const database of TEST_DATABASES) {
  test(`[${database.name}] /ready answers 503 service_unavailable naming the database when it is gone`, async () => {
    const t = await createTestApp({ database });
    const ok = await t.request({ method: 'GET', url: '/ready' });
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(ok.json(), { status: 'ready', checks: { database: 'ok' } });
    await t.storage.close();
    const res = await t.request({ method: 'GET', url: '/ready' });
    assert.equal(res.statusCode, 503);
    assert.equal(res.json().error.code, 'service_unavailable');
    assert.match(res.json().error.message, /database/);
    await t.close();
  });
}

test('/ready answers 503 naming Redis when REDIS_URL points at a closed port', async () => {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  const t = await createTestApp({ env: { REDIS_URL: `redis://127.0.0.1:${port}` } });
  try {
    const started = Date.now();
    const res = await t.request({ method: 'GET', url: '/ready' });
    assert.equal(res.statusCode, 503);
    assert.equal(res.json().error.code, 'service_unavailable');
    assert.match(res.json().error.message, /redis/);
    assert.doesNotMatch(res.json().error.message, /database/);
    assert.ok(Date.now() - started < 2000, 'answers promptly');
  } finally {
    await t.close();
  }
});

test('/ready checks Redis when configured', { skip: !process.env.TEST_REDIS_URL && 'TEST_REDIS_URL not set' }, async () => {
  const t = await createTestApp({ env: { REDIS_URL: process.env.TEST_REDIS_URL! } });
  try {
    const res = await t.request({ method: 'GET', url: '/ready' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ready', checks: { database: 'ok', redis: 'ok' } });
  } finally {
    await t.close();
  }
});
