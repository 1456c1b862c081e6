import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runAdmin } from './helpers/admin.js';
import { createTestApp, type TestApp } from './helpers/test-app.js';

describe('admin CLI', () => {
  let t: TestApp;
  let env: Record<string, string>;
  before(async () => {
    t = await createTestApp();
    env = { DATABASE_URL: t.config.database.url };
  });
  after(() => t.close());

  test('npm run --silent admin -- create-user NAME prints exactly one JSON line whose key works', async () => {
    const run = await runAdmin(['create-user', 'carol'], env, { viaNpm: true });
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, run.stdout);
    const created = JSON.parse(lines[0]!);
    assert.deepEqual(Object.keys(created).sort(), ['api_key', 'id', 'name']);
    assert.equal(created.name, 'carol');
    assert.match(created.api_key, /^oab_[\w-]{43}$/);
    const res = await t.request({ method: 'GET', url: '/conversations', key: created.api_key });
    assert.equal(res.statusCode, 200, 'the running server accepts the new key at once');
  });

  test('list-users prints one JSON line per user', async () => {
    await runAdmin(['create-user', 'dave'], env);
    const run = await runAdmin(['list-users'], env);
    assert.equal(run.code, 0, run.stderr);
    const users = run.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const dave = users.find((u) => u.name === 'dave');
    assert.ok(dave);
    assert.equal(dave.active_keys, 1);
    assert.ok(!run.stdout.includes('oab_'), 'keys are never listed');
  });

  test('revoke-key makes the key stop working on the running server', async () => {
    const created = JSON.parse((await runAdmin(['create-user', 'erin'], env)).stdout);
    assert.equal((await t.request({ method: 'GET', url: '/conversations', key: created.api_key })).statusCode, 200);
    const run = await runAdmin(['revoke-key', created.api_key], env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await t.request({ method: 'GET', url: '/conversations', key: created.api_key })).statusCode, 401);
    assert.equal((await runAdmin(['revoke-key', created.api_key], env)).code, 2, 'revoking twice reports no match');
  });

  test('an unknown command or missing name exits 2 with usage on stderr and nothing on stdout', async () => {
    for (const args of [['frobnicate'], ['create-user'], []]) {
      const run = await runAdmin(args, env);
      assert.equal(run.code, 2, args.join(' '));
      assert.equal(run.stdout, '');
      assert.match(run.stderr, /usage:/);
    }
  });
});
