import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newId } from '../src/shared/ids.js';
import { openStorage } from '../src/storage/open-storage.js';
import type { NewMessage, Storage } from '../src/storage/storage.js';
import { runAdmin } from './helpers/admin.js';
import { TEST_DATABASES } from './helpers/databases.js';

for (const database of TEST_DATABASES) {
  describe(`storage (${database.name})`, () => {
    let db: { url: string; drop(): Promise<void> };
    let storage: Storage;
    before(async () => {
      db = await database.create();
      storage = openStorage(db.url);
      await storage.migrate();
    });
    after(async () => {
      await storage.close();
      await db.drop();
    });

    const now = () => new Date().toISOString();
    async function makeUser() {
      const user = { id: newId(), name: 'u', createdAt: now() };
      const key = { id: newId(), userId: user.id, keyHash: newId(), keyPrefix: 'oab_x', createdAt: now() };
      await storage.users.createWithKey(user, key);
      return { user, key };
    }
    async function makeConversation(userId: string, title: string | null = null) {
      const c = { id: newId(), userId, title, createdAt: now(), updatedAt: now() };
      await storage.conversations.create(c);
      return c;
    }
    const message = (conversationId: string, content: string, extra: Partial<NewMessage> = {}): NewMessage => ({
      id: newId(), conversationId, role: 'user', content, tokens: 5, status: 'complete', toolCalls: null, toolCallId: null, createdAt: now(), ...extra,
    });

    test('migrating again is a no-op', async () => {
      await storage.migrate();
      await storage.ping();
    });

    test('instances starting together on a fresh database each migrate safely', async () => {
      // Separate processes, as real instances are: each runs the migrations at start-up.
      const fresh = await database.create();
      try {
        const runs = await Promise.all(
          [1, 2, 3].map((i) => runAdmin(['create-user', `starter-${i}`], { DATABASE_URL: fresh.url })),
        );
        for (const run of runs) assert.equal(run.code, 0, run.stderr);
        const check = openStorage(fresh.url);
        try {
          assert.equal((await check.users.list()).length, 3);
        } finally {
          await check.close();
        }
      } finally {
        await fresh.drop();
      }
    });

    test('a key resolves to its user until it is revoked', async () => {
      const { user, key } = await makeUser();
      assert.deepEqual(await storage.users.findByKeyHash(key.keyHash), { ...user, rateLimitPerMinute: null, tokensPerMinute: null });
      assert.equal(await storage.users.revokeKey(key.id, now()), true);
      assert.equal(await storage.users.findByKeyHash(key.keyHash), undefined);
      assert.equal(await storage.users.revokeKey(key.id, now()), false);
    });

    test('listing users counts only active keys', async () => {
      const { user, key } = await makeUser();
      await storage.users.addKey({ id: newId(), userId: user.id, keyHash: newId(), keyPrefix: 'p', createdAt: now() });
      await storage.users.revokeKey(key.keyHash, now());
      const listed = (await storage.users.list()).find((u) => u.id === user.id);
      assert.equal(listed?.activeKeys, 1);
    });

    test('conversations are scoped to their user', async () => {
      const a = await makeUser();
      const b = await makeUser();
      const c = await makeConversation(a.user.id, 't');
      assert.equal((await storage.conversations.get(a.user.id, c.id))?.title, 't');
      assert.equal(await storage.conversations.get(b.user.id, c.id), undefined);
      assert.equal(await storage.conversations.update(b.user.id, c.id, { title: 'x', updatedAt: now() }), undefined);
      assert.equal(await storage.conversations.delete(b.user.id, c.id), false);
      assert.equal(await storage.conversations.delete(a.user.id, c.id), true);
    });

    test('touch sets the title only when there is none', async () => {
      const { user } = await makeUser();
      const c = await makeConversation(user.id);
      await storage.conversations.touch(c.id, now(), 'first');
      await storage.conversations.touch(c.id, now(), 'second');
      assert.equal((await storage.conversations.get(user.id, c.id))?.title, 'first');
    });

    test('messages keep their append order and round-trip tool-call fields', async () => {
      const { user } = await makeUser();
      const c = await makeConversation(user.id);
      const calls = [{ id: 'call_1', type: 'function' as const, function: { name: 'list_tasks', arguments: '{"status":"all"}' } }];
      const appended = [];
      appended.push(await storage.messages.append(message(c.id, 'one')));
      appended.push(await storage.messages.append(message(c.id, null as unknown as string, { role: 'assistant', toolCalls: calls })));
      appended.push(await storage.messages.append(message(c.id, '{"tasks":[]}', { role: 'tool', toolCallId: 'call_1' })));
      appended.push(await storage.messages.append(message(c.id, 'partial', { role: 'assistant', status: 'incomplete' })));
      const seqs = appended.map((m) => m.seq);
      assert.deepEqual([...seqs].sort((x, y) => x - y), seqs);
      const { data } = await storage.messages.list(c.id, { limit: 10 });
      assert.deepEqual(data, appended);
      assert.deepEqual(data[1]!.toolCalls, calls);
      assert.equal(data[2]!.toolCallId, 'call_1');
      assert.equal(data[3]!.status, 'incomplete');
    });

    test('messages page oldest first with a cursor, and read newest first before a seq', async () => {
      const { user } = await makeUser();
      const c = await makeConversation(user.id);
      for (let i = 0; i < 7; i++) await storage.messages.append(message(c.id, `m${i}`));
      const first = await storage.messages.list(c.id, { limit: 3 });
      const second = await storage.messages.list(c.id, { limit: 3, cursor: first.nextCursor! });
      const third = await storage.messages.list(c.id, { limit: 3, cursor: second.nextCursor! });
      assert.deepEqual([...first.data, ...second.data, ...third.data].map((m) => m.content), ['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6']);
      assert.equal(third.nextCursor, null);
      const newest = await storage.messages.newestFirst(c.id, { limit: 2 });
      assert.deepEqual(newest.map((m) => m.content), ['m6', 'm5']);
      const older = await storage.messages.newestFirst(c.id, { limit: 2, beforeSeq: newest[1]!.seq });
      assert.deepEqual(older.map((m) => m.content), ['m4', 'm3']);
    });

    test('concurrent appends to one conversation are all stored in one consistent order', async () => {
      const { user } = await makeUser();
      const c = await makeConversation(user.id);
      await Promise.all(Array.from({ length: 20 }, (_, i) => storage.messages.append(message(c.id, `p${i}`))));
      const { data } = await storage.messages.list(c.id, { limit: 100 });
      assert.equal(data.length, 20);
      const again = await storage.messages.list(c.id, { limit: 100 });
      assert.deepEqual(again.data.map((m) => m.id), data.map((m) => m.id));
    });

    test('appendIfAbsent stores a message once per id, also when several try at once', async () => {
      const { user } = await makeUser();
      const c = await makeConversation(user.id);
      const reply = message(c.id, 'the reply', { role: 'assistant' });
      const first = await storage.messages.appendIfAbsent(reply);
      assert.equal(first?.content, 'the reply');
      assert.equal(await storage.messages.appendIfAbsent({ ...reply, content: 'a second copy', status: 'incomplete' }), undefined);
      const other = message(c.id, 'another reply', { role: 'assistant' });
      const racing = await Promise.all([1, 2, 3].map(() => storage.transaction((tx) => tx.messages.appendIfAbsent(other))));
      assert.equal(racing.filter(Boolean).length, 1);
      const { data } = await storage.messages.list(c.id, { limit: 10 });
      assert.deepEqual(
        data.map((m) => [m.id, m.content]),
        [
          [reply.id, 'the reply'],
          [other.id, 'another reply'],
        ],
      );
    });

    test('deleting a conversation deletes its messages', async () => {
      const { user } = await makeUser();
      const c = await makeConversation(user.id);
      await storage.messages.append(message(c.id, 'bye'));
      await storage.conversations.delete(user.id, c.id);
      assert.deepEqual((await storage.messages.list(c.id, { limit: 10 })).data, []);
    });

    test('a failed transaction leaves nothing behind', async () => {
      const { user } = await makeUser();
      const id = newId();
      await assert.rejects(
        storage.transaction(async (tx) => {
          await tx.conversations.create({ id, userId: user.id, title: 'x', createdAt: now(), updatedAt: now() });
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal(await storage.conversations.get(user.id, id), undefined);
    });
  });
}
