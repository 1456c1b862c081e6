import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newId } from '../src/shared/ids.js';
import { TEST_DATABASES } from './helpers/databases.js';
import { createTestApp, type TestApp } from './helpers/test-app.js';

for (const database of TEST_DATABASES) {
  describe(`conversations API (${database.name})`, () => {
    let t: TestApp;
    let alice: string;
    let bob: string;
    before(async () => {
      t = await createTestApp({ database });
      alice = (await t.createUser('alice')).apiKey;
      bob = (await t.createUser('bob')).apiKey;
    });
    after(() => t.close());

    const create = async (key: string, title?: string) => {
      const res = await t.request({ method: 'POST', url: '/conversations', key, json: title === undefined ? {} : { title } });
      assert.equal(res.statusCode, 201);
      return res.json();
    };

    test('creating returns 201 with id, title and ISO times', async () => {
      const c = await create(alice, 'Trip planning');
      assert.equal(c.title, 'Trip planning');
      assert.equal(typeof c.id, 'string');
      assert.equal(new Date(c.created_at).toISOString(), c.created_at);
      assert.equal(c.updated_at, c.created_at);
    });

    test('a conversation may be created without a body or title', async () => {
      const res = await t.request({ method: 'POST', url: '/conversations', key: alice });
      assert.equal(res.statusCode, 201);
      assert.equal(res.json().title, null);
    });

    test('get, rename and delete round-trip', async () => {
      const c = await create(alice, 'before');
      assert.deepEqual((await t.request({ method: 'GET', url: `/conversations/${c.id}`, key: alice })).json(), c);
      const renamed = await t.request({ method: 'PATCH', url: `/conversations/${c.id}`, key: alice, json: { title: 'after' } });
      assert.equal(renamed.statusCode, 200);
      assert.equal(renamed.json().title, 'after');
      assert.ok(renamed.json().updated_at >= c.updated_at);
      assert.equal((await t.request({ method: 'DELETE', url: `/conversations/${c.id}`, key: alice })).statusCode, 204);
      assert.equal((await t.request({ method: 'GET', url: `/conversations/${c.id}`, key: alice })).statusCode, 404);
      assert.equal((await t.request({ method: 'DELETE', url: `/conversations/${c.id}`, key: alice })).statusCode, 404);
    });

    test("another user's conversation answers 404 to every verb, like a missing one", async () => {
      const c = await create(alice, 'private');
      const attempts = [
        { method: 'GET' as const, url: `/conversations/${c.id}` },
        { method: 'PATCH' as const, url: `/conversations/${c.id}`, json: { title: 'mine now' } },
        { method: 'GET' as const, url: `/conversations/${c.id}/messages` },
        { method: 'DELETE' as const, url: `/conversations/${c.id}` },
      ];
      for (const attempt of attempts) {
        const res = await t.request({ ...attempt, key: bob });
        assert.equal(res.statusCode, 404, `${attempt.method} ${attempt.url}`);
        assert.equal(res.json().error.code, 'not_found');
      }
      const still = (await t.request({ method: 'GET', url: `/conversations/${c.id}`, key: alice })).json();
      assert.equal(still.title, 'private');
      const bobs = (await t.request({ method: 'GET', url: '/conversations', key: bob })).json();
      assert.ok(!bobs.data.some((x: { id: string }) => x.id === c.id));
    });

    test('listing is newest first and pages with next_cursor until null', async () => {
      const { apiKey } = await t.createUser('pager');
      const made = [];
      for (let i = 0; i < 5; i++) made.push((await create(apiKey, `c${i}`)).id);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const url: string = `/conversations?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const page = (await t.request({ method: 'GET', url, key: apiKey })).json();
        assert.ok(page.data.length <= 2);
        seen.push(...page.data.map((c: { id: string }) => c.id));
        cursor = page.next_cursor;
      } while (cursor);
      assert.deepEqual(seen, made.reverse());
    });

    test('messages are listed oldest first with their fields, and deleted with the conversation', async () => {
      const c = await create(alice, 'with messages');
      const me = await t.storage.users.findByKeyHash((await import('../src/services/api-keys.js')).hashApiKey(alice));
      assert.ok(me);
      const now = new Date().toISOString();
      for (const [role, content] of [['user', 'hi'], ['assistant', 'hello']] as const) {
        await t.storage.messages.append({
          id: newId(), conversationId: c.id, role, content, tokens: 3, status: 'complete', toolCalls: null, toolCallId: null, createdAt: now,
        });
      }
      const res = await t.request({ method: 'GET', url: `/conversations/${c.id}/messages`, key: alice });
      assert.equal(res.statusCode, 200);
      const { data, next_cursor } = res.json();
      assert.deepEqual(data.map((m: { role: string; content: string }) => [m.role, m.content]), [['user', 'hi'], ['assistant', 'hello']]);
      assert.deepEqual(Object.keys(data[0]).sort(), ['content', 'created_at', 'id', 'role', 'status', 'tokens']);
      assert.equal(data[0].status, 'complete');
      assert.equal(next_cursor, null);
      await t.request({ method: 'DELETE', url: `/conversations/${c.id}`, key: alice });
      assert.deepEqual((await t.storage.messages.list(c.id, { limit: 10 })).data, []);
    });

    test('a title longer than 200 characters is rejected', async () => {
      const res = await t.request({ method: 'POST', url: '/conversations', key: alice, json: { title: 'x'.repeat(201) } });
      assert.equal(res.statusCode, 422);
    });
  });
}
