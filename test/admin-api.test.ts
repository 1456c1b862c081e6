/**
 * The admin API (/admin, ADMIN_API_KEY): absent without the key, 401 with a wrong one; users,
 * keys and per-user limits end to end, and those limits across two instances sharing Redis.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAI, type FakeOpenAI } from '../src/fake-openai/server.js';
import { redisKeyPrefix, TEST_DATABASES } from './helpers/databases.js';
import { createChatFixture, type ChatFixture } from './helpers/fake-upstream.js';
import { startServerProcess, type ServerProcess } from './helpers/server-process.js';
import { runAdmin } from './helpers/admin.js';
import { createTestApp } from './helpers/test-app.js';

const ADMIN_KEY = 'admin-test-key-0123456789abcdef';
const REDIS = process.env.TEST_REDIS_URL;

describe('the admin API is absent without ADMIN_API_KEY', () => {
  test('every /admin path answers 404, as a route that does not exist', async () => {
    const t = await createTestApp();
    try {
      const unknown = await t.request({ method: 'GET', url: '/no-such-route' });
      for (const [method, url] of [['GET', '/admin/users'], ['POST', '/admin/users'], ['GET', '/admin/usage'], ['DELETE', '/admin/keys/x'], ['GET', '/admin/elsewhere']] as const) {
        const res = await t.request({ method, url, headers: { authorization: `Bearer ${ADMIN_KEY}` }, ...(method === 'POST' && { json: { name: 'x' } }) });
        assert.equal(res.statusCode, 404, `${method} ${url}`);
        assert.equal(res.json().error.code, 'not_found');
        assert.equal(res.json().error.message, unknown.json().error.message);
      }
    } finally {
      await t.close();
    }
  });
});

describe('admin API end to end', () => {
  let f: ChatFixture;
  before(async () => {
    f = await createChatFixture({ env: { ADMIN_API_KEY: ADMIN_KEY, RATE_LIMIT_PER_MINUTE: '100' } });
  });
  after(() => f.close());

  const admin = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, json?: unknown, key = ADMIN_KEY) =>
    f.t.request({ method, url, headers: { authorization: `Bearer ${key}` }, ...(json !== undefined && { json }) });
  const chat = (key: string) => f.t.request({ method: 'POST', url: '/chat', key, json: { message: 'hello' } });

  test('a wrong or missing admin key answers 401; a user API key is no admin key', async () => {
    assert.equal((await admin('GET', '/admin/users', undefined, 'wrong-admin-key-0123456789abcdef')).statusCode, 401);
    assert.equal((await f.t.request({ method: 'GET', url: '/admin/users' })).statusCode, 401);
    const { apiKey } = await f.t.createUser();
    const res = await admin('GET', '/admin/users', undefined, apiKey);
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().error.code, 'unauthorized');
  });

  test('create a user → its key works → PATCH limits → the limit applies → reset → another key → revoke → 401', async () => {
    const created = await admin('POST', '/admin/users', { name: 'ops-made' });
    assert.equal(created.statusCode, 201);
    const user = created.json() as { id: string; name: string; api_key: string; key_id: string; rate_limit_per_minute: null };
    assert.equal(user.name, 'ops-made');
    assert.equal(user.rate_limit_per_minute, null);
    assert.equal((await chat(user.api_key)).statusCode, 200);

    const patched = await admin('PATCH', `/admin/users/${user.id}`, { rate_limit_per_minute: 3 });
    assert.equal(patched.statusCode, 200);
    assert.equal(patched.json().rate_limit_per_minute, 3);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await chat(user.api_key)).statusCode);
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    // The user's own limit counts per user: a second key shares it.
    const second = await admin('POST', `/admin/users/${user.id}/keys`);
    assert.equal(second.statusCode, 201);
    const { api_key: secondKey, key_id: secondKeyId } = second.json() as { api_key: string; key_id: string };
    assert.equal((await chat(secondKey)).statusCode, 429);

    const reset = await admin('PATCH', `/admin/users/${user.id}`, { rate_limit_per_minute: null });
    assert.equal(reset.json().rate_limit_per_minute, null);
    assert.equal((await chat(secondKey)).statusCode, 200, 'back to the default (per key)');

    const listed = (await admin('GET', '/admin/users')).json() as { data: Array<{ id: string; active_keys: number }> };
    assert.equal(listed.data.find((u) => u.id === user.id)?.active_keys, 2);

    assert.equal((await admin('DELETE', `/admin/keys/${secondKeyId}`)).statusCode, 204);
    assert.equal((await chat(secondKey)).statusCode, 401);
    assert.equal((await admin('DELETE', `/admin/keys/${secondKeyId}`)).statusCode, 404, 'already revoked');
    assert.equal((await chat(user.api_key)).statusCode, 200, 'the first key still works');
  });

  test("a user's tokens_per_minute overrides TOKENS_PER_MINUTE (none here)", async () => {
    const user = (await admin('POST', '/admin/users', { name: 'frugal', tokens_per_minute: 30 })).json() as { api_key: string; tokens_per_minute: number };
    assert.equal(user.tokens_per_minute, 30);
    assert.equal((await chat(user.api_key)).statusCode, 200);
    const res = await chat(user.api_key);
    assert.equal(res.statusCode, 429);
    assert.match(res.json().error.message, /Token budget of 30/);
  });

  test('bad input: 422 naming the field; unknown ids: 404', async () => {
    const zero = await admin('PATCH', '/admin/users/nope', { rate_limit_per_minute: 0 });
    assert.equal(zero.statusCode, 422);
    assert.match(zero.json().error.message, /rate_limit_per_minute/);
    assert.equal((await admin('POST', '/admin/users', { name: '' })).statusCode, 422);
    assert.equal((await admin('PATCH', '/admin/users/nope', { tokens_per_minute: 5 })).statusCode, 404);
    assert.equal((await admin('POST', '/admin/users/nope/keys')).statusCode, 404);
    assert.equal((await admin('DELETE', '/admin/keys/nope')).statusCode, 404);
    assert.equal((await admin('GET', '/admin/usage?from=2026-02-30')).statusCode, 422);
  });

  test('admin routes are not rate limited as model calls', async () => {
    const t = await createTestApp({ env: { ADMIN_API_KEY: ADMIN_KEY, RATE_LIMIT_PER_MINUTE: '2' } });
    try {
      for (let i = 0; i < 5; i++) {
        const res = await t.request({ method: 'GET', url: '/admin/users', headers: { authorization: `Bearer ${ADMIN_KEY}` } });
        assert.equal(res.statusCode, 200);
      }
    } finally {
      await t.close();
    }
  });
});

describe('per-user limits on two instances sharing Redis', { skip: !REDIS && 'TEST_REDIS_URL not set' }, () => {
  const SQLITE = TEST_DATABASES[0]!;
  let fake: FakeOpenAI;
  let db: Awaited<ReturnType<typeof SQLITE.create>>;
  let servers: ServerProcess[] = [];
  before(async () => {
    fake = await startFakeOpenAI();
    db = await SQLITE.create();
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: REDIS!,
      REDIS_KEY_PREFIX: redisKeyPrefix(),
      OPENAI_BASE_URL: fake.url,
      OPENAI_API_KEY: 'sk-test',
      ADMIN_API_KEY: ADMIN_KEY,
      RATE_LIMIT_PER_MINUTE: '100000',
    };
    // One after the other: two start-ups at once on a busy machine can outlast the helper's wait.
    servers = [await startServerProcess(env)];
    servers.push(await startServerProcess(env));
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await fake.close();
    await db.drop();
  });

  const call = async (i: number, method: string, path: string, key: string, body?: unknown) => {
    const res = await fetch(`${servers[i % 2]!.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  test("a user's rate_limit_per_minute holds across both, over two keys; a PATCH on one applies on the other at once", async () => {
    const created = await call(0, 'POST', '/admin/users', ADMIN_KEY, { name: 'shared', rate_limit_per_minute: 5 });
    assert.equal(created.status, 201);
    const { id, api_key: first } = created.body as { id: string; api_key: string };
    const second = (await call(1, 'POST', `/admin/users/${id}/keys`, ADMIN_KEY)).body.api_key as string;
    const burst = (n: number) =>
      Promise.all(Array.from({ length: n }, (_, i) => call(i, 'POST', '/chat', i % 4 < 2 ? first : second, { message: 'hi' })));
    const served = (results: Array<{ status: number }>) => {
      for (const r of results) assert.ok(r.status === 200 || r.status === 429, String(r.status));
      return results.filter((r) => r.status === 200).length;
    };
    assert.equal(served(await burst(8)), 5);
    // Refused requests count too (as @fastify/rate-limit counts): 8 of this minute are gone.
    assert.equal((await call(1, 'PATCH', `/admin/users/${id}`, ADMIN_KEY, { rate_limit_per_minute: 10 })).status, 200);
    assert.equal(served(await burst(4)), 2, 'the same minute, now against 10');
  });
});

describe('admin CLI: create-key and set-limits', () => {
  test('set-limits sets and resets a user\'s limits (one JSON line), create-key prints a working key', async () => {
    const t = await createTestApp();
    try {
      const { id } = await t.createUser('cli-user');
      const env = { DATABASE_URL: t.config.database.url };
      const set = await runAdmin(['set-limits', id, '--rate-limit-per-minute', '7', '--tokens-per-minute', '5000'], env);
      assert.equal(set.code, 0, set.stderr);
      assert.deepEqual(JSON.parse(set.stdout), { id, name: 'cli-user', rate_limit_per_minute: 7, tokens_per_minute: 5000 });
      const reset = await runAdmin(['set-limits', id, '--tokens-per-minute', 'default'], env);
      assert.deepEqual(JSON.parse(reset.stdout), { id, name: 'cli-user', rate_limit_per_minute: 7, tokens_per_minute: null });
      const bad = await runAdmin(['set-limits', id, '--rate-limit-per-minute', '0'], env);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--rate-limit-per-minute/);
      assert.equal((await runAdmin(['set-limits', 'nobody', '--rate-limit-per-minute', '3'], env)).code, 2);
      const key = await runAdmin(['create-key', id], env);
      assert.equal(key.code, 0, key.stderr);
      const { api_key: apiKey } = JSON.parse(key.stdout) as { api_key: string };
      assert.equal((await t.request({ method: 'GET', url: '/conversations', key: apiKey })).statusCode, 200);
    } finally {
      await t.close();
    }
  });
});
