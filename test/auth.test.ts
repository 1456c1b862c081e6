import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashApiKey } from '../src/services/api-keys.js';
import SQLite from 'better-sqlite3';
import { userService } from '../src/services/user-service.js';
import { createTestApp, type TestApp } from './helpers/test-app.js';

describe('API-key authentication', () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp();
  });
  after(() => t.close());

  const list = (headers: Record<string, string>) => t.request({ method: 'GET', url: '/conversations', headers });

  test('a request without Authorization answers 401 unauthorized', async () => {
    const res = await list({});
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().error.code, 'unauthorized');
  });

  test('an unknown key answers 401', async () => {
    const res = await list({ authorization: 'Bearer oab_thisKeyDoesNotExistAnywhere000000000000000' });
    assert.equal(res.statusCode, 401);
  });

  test('a malformed Authorization header answers 401', async () => {
    const { apiKey } = await t.createUser();
    for (const value of [apiKey, `Basic ${apiKey}`, 'Bearer', `Bearer ${apiKey} extra`]) {
      assert.equal((await list({ authorization: value })).statusCode, 401, value.replace(apiKey, 'KEY'));
    }
  });

  test('a valid key is accepted, with the scheme in any case', async () => {
    const { apiKey } = await t.createUser();
    assert.equal((await list({ authorization: `Bearer ${apiKey}` })).statusCode, 200);
    assert.equal((await list({ authorization: `bearer ${apiKey}` })).statusCode, 200);
  });

  test('a revoked key stops working at once', async () => {
    const { apiKey } = await t.createUser();
    assert.equal((await list({ authorization: `Bearer ${apiKey}` })).statusCode, 200);
    assert.equal(await userService(t.storage).revokeKey(apiKey), true);
    assert.equal((await list({ authorization: `Bearer ${apiKey}` })).statusCode, 401);
  });

  test('keys are stored only as hashes', async () => {
    const { apiKey } = await t.createUser('hash-check');
    const db = new SQLite(t.config.database.url.slice('sqlite:'.length), { readonly: true });
    try {
      const dump = JSON.stringify(db.prepare('select * from api_keys').all());
      assert.ok(dump.includes(hashApiKey(apiKey)));
      assert.ok(!dump.includes(apiKey));
    } finally {
      db.close();
    }
  });

  test('public endpoints need no key', async () => {
    for (const url of ['/health', '/ready', '/openapi.json']) {
      assert.equal((await t.request({ method: 'GET', url })).statusCode, 200, url);
    }
  });
});
