import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { newId } from '../src/shared/ids.js';
import { openStorage } from '../src/storage/open-storage.js';
import type { Storage } from '../src/storage/storage.js';
import { SQLITE } from './helpers/databases.js';

// The hot queries run straight on the SQLite connection (sqlite.ts, directRunner) unless a
// transaction other than theirs holds it: these check they behave as through Kysely.
let db: { url: string; drop(): Promise<void> };
let storage: Storage;
let userId: string;
before(async () => {
  db = await SQLITE.create();
  storage = openStorage(db.url);
  await storage.migrate();
  userId = newId();
  const now = new Date().toISOString();
  await storage.users.createWithKey({ id: userId, name: 'u', createdAt: now }, { id: newId(), userId, keyHash: `hash-${userId}`, keyPrefix: 'oab_x', createdAt: now });
});
after(async () => {
  await storage.close();
  await db.drop();
});

const conversation = (id: string) => {
  const now = new Date().toISOString();
  return { id, userId, title: 'direct', createdAt: now, updatedAt: now };
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a read outside a transaction waits while another transaction holds the connection, and never sees its uncommitted writes', async () => {
  const id = newId();
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let inserted = false;
  const writing = storage.transaction(async (tx) => {
    await tx.conversations.create(conversation(id));
    inserted = true;
    await held; // open across turns of the event loop, as no real transaction should be
  });
  while (!inserted) await sleep(1);
  let settled = false;
  const reading = storage.conversations.get(userId, id).finally(() => (settled = true));
  await sleep(30);
  assert.equal(settled, false, 'the read waited for the connection');
  release();
  await writing;
  assert.equal((await reading)?.id, id, 'and then saw the committed row');
});

test('inside its transaction a query sees the transaction\'s own writes; results have Kysely\'s shapes', async () => {
  const id = newId();
  const stored = await storage.transaction(async (tx) => {
    await tx.conversations.create(conversation(id));
    assert.equal((await tx.conversations.get(userId, id))?.id, id);
    await tx.conversations.touch(id, new Date().toISOString(), 'ignored: the title is set');
    return tx.messages.append({ id: newId(), conversationId: id, role: 'user', content: 'hi', tokens: 5, status: 'complete', toolCalls: null, toolCallId: null, createdAt: new Date().toISOString() });
  });
  assert.ok(Number.isSafeInteger(stored.seq) && stored.seq > 0, 'the seq RETURNING gave');
  assert.equal((await storage.conversations.get(userId, id))?.title, 'direct');
  assert.deepEqual((await storage.messages.newerThan(id, { afterSeq: 0, limit: 10 })).map((m) => [m.seq, m.content]), [[stored.seq, 'hi']]);
  assert.equal((await storage.users.findByKeyHash(`hash-${userId}`))?.id, userId);
  assert.equal(await storage.conversations.get(newId(), id), undefined, 'someone else\'s conversation is not found');
});
