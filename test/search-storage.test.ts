import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newId } from '../src/shared/ids.js';
import { openStorage } from '../src/storage/open-storage.js';
import { openSqlite } from '../src/storage/sqlite.js';
import type { Storage } from '../src/storage/storage.js';
import { TEST_DATABASES } from './helpers/databases.js';
import { randoms } from './helpers/random.js';

const DIMS = 64;
const MODEL = 'model-a';

/** Deterministic pseudo-random vectors (not normalised, so cosine ≠ dot product). */
function vectors(count: number, seed: number): Float32Array[] {
  const next = randoms(seed);
  return Array.from({ length: count }, () => Float32Array.from({ length: DIMS }, next));
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

/** Every way this build can score vectors, per database. */
const methods = TEST_DATABASES.flatMap((database) =>
  database.name === 'sqlite'
    ? [
        { database, label: 'sqlite, sqlite-vec', open: (url: string) => openSqlite(url.slice('sqlite:'.length)) },
        { database, label: 'sqlite, JS scoring', open: (url: string) => openSqlite(url.slice('sqlite:'.length), { sqliteVec: false }) },
      ]
    : [{ database, label: 'postgres', open: (url: string) => openStorage(url) }],
);

for (const { database, label, open } of methods) {
  describe(`exact vector search in storage (${label})`, () => {
    let storage: Storage;
    let drop: () => Promise<void>;
    const alice = newId();
    const bob = newId();
    const mine = vectors(1500, 1); // > one JS scan page, so paging is exercised
    const ids: string[] = [];
    before(async () => {
      const db = await database.create();
      drop = db.drop;
      storage = open(db.url);
      await storage.migrate();
      const now = new Date().toISOString();
      await storage.users.createWithKey({ id: alice, name: 'alice', createdAt: now }, { id: newId(), userId: alice, keyHash: newId(), keyPrefix: 'a', createdAt: now });
      await storage.users.createWithKey({ id: bob, name: 'bob', createdAt: now }, { id: newId(), userId: bob, keyHash: newId(), keyPrefix: 'b', createdAt: now });
      const put = async (userId: string, vector: Float32Array, model = MODEL) => {
        const id = newId();
        const version = newId();
        await storage.tasks.create({ id, userId, title: `task ${id}`, description: null, priority: 'medium', status: 'pending', createdAt: now, updatedAt: now });
        await storage.embeddings.enqueue({ taskId: id, userId, version, notBefore: now });
        await storage.embeddings.complete([{ taskId: id, version, embedding: { taskId: id, userId, model, dimensions: vector.length, contentHash: 'h', vector, embeddedAt: now } }]);
        return id;
      };
      for (const v of mine) ids.push(await put(alice, v));
      // Bob's vectors and Alice's vectors of another model or size equal the query itself: they would rank first if not excluded.
      const query = vectors(1, 99)[0]!;
      await put(bob, query);
      await put(alice, query, 'model-b');
      await put(alice, Float32Array.from({ length: 32 }, (_, i) => query[i]!));
    });
    after(async () => {
      await storage.close();
      await drop();
    });

    test('returns exactly the top k by cosine, most similar first, from the user and space only', async () => {
      for (const query of vectors(5, 99)) {
        const expected = mine
          .map((v, i) => ({ id: ids[i]!, similarity: cosine(query, v) }))
          .sort((a, b) => b.similarity - a.similarity)
          .slice(0, 10);
        const got = await storage.embeddings.search(alice, { model: MODEL, dimensions: DIMS }, query, 10);
        assert.deepEqual(got.map((r) => r.id), expected.map((r) => r.id));
        got.forEach((r, i) => assert.ok(Math.abs(r.similarity - expected[i]!.similarity) < 1e-5, `${r.similarity} ≈ ${expected[i]!.similarity}`));
        assert.ok(got.every((r) => r.title === `task ${r.id}`));
      }
    });

    test('a vector identical to a stored one finds it with similarity 1', async () => {
      const [first] = await storage.embeddings.search(alice, { model: MODEL, dimensions: DIMS }, mine[700]!, 1);
      assert.equal(first?.id, ids[700]);
      assert.ok(Math.abs(first!.similarity - 1) < 1e-5);
    });

    test('a newer queued version is never overwritten by an older embedding', async () => {
      const id = ids[0]!;
      const now = new Date().toISOString();
      await storage.embeddings.enqueue({ taskId: id, userId: alice, version: 'v1', notBefore: now });
      await storage.embeddings.enqueue({ taskId: id, userId: alice, version: 'v2', notBefore: now }); // the title changed again
      const stale = { taskId: id, userId: alice, model: MODEL, dimensions: DIMS, contentHash: 'old', vector: mine[1]!, embeddedAt: now };
      assert.equal(await storage.embeddings.complete([{ taskId: id, version: 'v1', embedding: stale }]), 0);
      assert.equal((await storage.embeddings.job(id))?.version, 'v2');
      assert.equal(await storage.embeddings.complete([{ taskId: id, version: 'v2', embedding: { ...stale, vector: mine[0]!, contentHash: 'h' } }]), 1);
      assert.equal(await storage.embeddings.job(id), undefined);
    });
  });
}
