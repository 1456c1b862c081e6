import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAI, type FakeOpenAI } from '../src/fake-openai/server.js';
import { createChatFixture, type ChatFixture } from './helpers/fake-upstream.js';
import { redisKeyPrefix, TEST_DATABASES } from './helpers/databases.js';
import { createUserKey } from './helpers/admin.js';
import { startServerProcess, type ServerProcess } from './helpers/server-process.js';

const REDIS = process.env.TEST_REDIS_URL;
/** A key prefix of this run's own, so concurrent runs sharing one Redis never see each other's counts. */

async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

describe('rate limits shared through Redis', { skip: !REDIS && 'TEST_REDIS_URL not set' }, () => {
  test('two app instances on one Redis together allow exactly the limit', async () => {
    const env = { REDIS_URL: REDIS!, REDIS_KEY_PREFIX: redisKeyPrefix(), RATE_LIMIT_PER_MINUTE: '4' };
    const a = await createChatFixture({ env });
    const b = await createChatFixture({ env });
    try {
      // Same key hash on both instances: one user's key, created in a's database, copied to b's.
      const { apiKey } = await a.t.createUser();
      const row = await a.t.storage.users.list();
      assert.equal(row.length, 1);
      const { hashApiKey } = await import('../src/services/api-keys.js');
      await b.t.storage.users.createWithKey(
        { id: row[0]!.id, name: row[0]!.name, createdAt: row[0]!.createdAt },
        { id: 'key-1', userId: row[0]!.id, keyHash: hashApiKey(apiKey), keyPrefix: 'oab_', createdAt: new Date().toISOString() },
      );
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const t = i % 2 === 0 ? a.t : b.t;
        statuses.push((await t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: 'hi' } })).statusCode);
      }
      assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('token budget is shared too (INCRBY per window)', async () => {
    const f = await createChatFixture({ env: { REDIS_URL: REDIS!, REDIS_KEY_PREFIX: redisKeyPrefix(), TOKENS_PER_MINUTE: '30' } });
    try {
      const { apiKey } = await f.t.createUser();
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) statuses.push((await f.t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: 'hello there' } })).statusCode);
      assert.ok(statuses.includes(429), statuses.join(','));
      assert.equal(statuses.indexOf(429) > 0, true);
    } finally {
      await f.close();
    }
  });
});

describe('Redis unreachable', () => {
  let f: ChatFixture | undefined;
  after(() => f?.close());

  test('fails open by default: requests pass, the outage is logged once, nothing crashes', async () => {
    f = await createChatFixture({ env: { REDIS_URL: `redis://127.0.0.1:${await closedPort()}`, RATE_LIMIT_PER_MINUTE: '1', TOKENS_PER_MINUTE: '5' } });
    const { apiKey } = await f.t.createUser();
    for (let i = 0; i < 3; i++) {
      const res = await f.t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: 'hi' } });
      assert.equal(res.statusCode, 200, res.body);
    }
    const outages = f.t.logs.filter((l) => String(l.msg).startsWith('redis unavailable'));
    assert.equal(outages.length, 1, 'logged once, not per request');
    await f.close();
    f = undefined;
  });

  test('RATE_LIMIT_FAIL_OPEN=false refuses model calls with 503 service_unavailable', async () => {
    f = await createChatFixture({ env: { REDIS_URL: `redis://127.0.0.1:${await closedPort()}`, RATE_LIMIT_FAIL_OPEN: 'false' } });
    const { apiKey } = await f.t.createUser();
    const res = await f.t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: 'hi' } });
    assert.equal(res.statusCode, 503);
    assert.equal(res.json().error.code, 'service_unavailable');
    // Routes that do not call the model never touch Redis.
    assert.equal((await f.t.request({ method: 'GET', url: '/conversations', key: apiKey })).statusCode, 200);
  });
});

const PG = TEST_DATABASES.find((d) => d.name === 'postgres');
describe('two server processes on PostgreSQL + Redis', { skip: !(PG && REDIS) && 'needs TEST_DATABASE_URL and TEST_REDIS_URL' }, () => {
  let fake: FakeOpenAI;
  let db: { url: string; drop(): Promise<void> };
  let servers: ServerProcess[] = [];
  before(async () => {
    fake = await startFakeOpenAI();
    db = await PG!.create();
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await fake.close();
    await db.drop();
  });

  test('allow exactly RATE_LIMIT_PER_MINUTE requests together, and a conversation continues on the other', async () => {
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: REDIS!,
      REDIS_KEY_PREFIX: redisKeyPrefix(),
      RATE_LIMIT_PER_MINUTE: '5',
      OPENAI_BASE_URL: fake.url,
      OPENAI_API_KEY: 'sk-test',
    };
    servers = await Promise.all([startServerProcess(env), startServerProcess(env)]);
    const key = await createUserKey({ DATABASE_URL: db.url }, 'alice');
    const chat = (server: ServerProcess, body: unknown) =>
      fetch(`${server.url}/chat`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    const first = await chat(servers[0]!, { message: 'remember the word banana' });
    assert.equal(first.status, 200);
    const { conversation_id } = (await first.json()) as { conversation_id: string };
    const second = await chat(servers[1]!, { message: 'continue', conversation_id });
    assert.equal(second.status, 200, 'the conversation continues on the other instance');
    const messages = (await (await fetch(`${servers[1]!.url}/conversations/${conversation_id}/messages`, { headers: { authorization: `Bearer ${key}` } })).json()) as { data: unknown[] };
    assert.equal(messages.data.length, 4);

    const statuses = [first.status, second.status];
    for (let i = 0; i < 6; i++) statuses.push((await chat(servers[i % 2]!, { message: 'hi' })).status);
    assert.equal(statuses.filter((s) => s === 200).length, 5, statuses.join(','));
    assert.equal(statuses.filter((s) => s === 429).length, 3);
  });
});
