import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { loadConfig } from '../src/config/config.js';
import { newId } from '../src/shared/ids.js';
import { searchService } from '../src/services/search-service.js';
import { vectorIndexCache, type VectorIndexCache } from '../src/services/vector-index/vector-index-cache.js';
import { openStorage } from '../src/storage/open-storage.js';
import type { EmbeddingSpace, Storage } from '../src/storage/storage.js';
import { embeddingModel } from '../src/upstream/embedding-model.js';
import { cosineSimilarity, insertTopK } from '../src/shared/vectors.js';
import { TEST_DATABASES } from './helpers/databases.js';
import { randoms } from './helpers/random.js';

const DIMS = 48;
const SPACE: EmbeddingSpace = { model: 'model-a', dimensions: DIMS };

const next = randoms(2024);
const randomVector = () => Float32Array.from({ length: DIMS }, next);

/** Runs SQL on the database directly, beside the app (what an operator or an old version would do). */
async function rawExec(url: string, statement: string): Promise<void> {
  if (url.startsWith('sqlite:')) {
    const db = new SQLite(url.slice('sqlite:'.length));
    try {
      db.exec(statement);
    } finally {
      db.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

for (const database of TEST_DATABASES) {
  describe(`search through the in-memory index stays exact as the database changes (${database.name})`, () => {
    let url: string;
    let drop: () => Promise<void>;
    let storage: Storage;
    /** A second app instance on the same database. */
    let other: Storage;
    const model = embeddingModel(undefined, loadConfig({ DATABASE_URL: 'sqlite:unused' }).openai);
    const now = new Date().toISOString();

    before(async () => {
      ({ url, drop } = await database.create());
      storage = openStorage(url, { poolSize: 4 });
      await storage.migrate();
      other = openStorage(url, { poolSize: 2 });
    });
    after(async () => {
      await other.close();
      await storage.close();
      await drop();
    });

    async function newUser(): Promise<string> {
      const id = newId();
      await storage.users.createWithKey({ id, name: 'u', createdAt: now }, { id: newId(), userId: id, keyHash: newId(), keyPrefix: 'k', createdAt: now });
      return id;
    }

    /** Stores (or replaces) a task's embedding through `via`, as the worker does. */
    async function embed(via: Storage, userId: string, taskId: string, vector: Float32Array, modelName = SPACE.model): Promise<void> {
      const version = newId();
      await via.embeddings.enqueue({ taskId, userId, version, notBefore: now });
      const embedding = { taskId, userId, model: modelName, dimensions: vector.length, contentHash: newId(), vector, embeddedAt: now };
      assert.equal(await via.embeddings.complete([{ taskId, version, embedding }]), 1);
    }

    async function addTask(userId: string, vector: Float32Array, via = storage): Promise<string> {
      const id = newId();
      await via.tasks.create({ id, userId, title: `task ${id}`, description: null, priority: 'medium', status: 'pending', createdAt: now, updatedAt: now });
      await embed(via, userId, id, vector);
      return id;
    }

    /** Checks the index path against brute force over what the test knows is stored. */
    async function assertExact(search: ReturnType<typeof searchService>, userId: string, expected: Map<string, Float32Array>, k = 7) {
      for (let q = 0; q < 3; q++) {
        const query = randomVector();
        const want: Array<{ id: string; similarity: number }> = [];
        for (const [id, v] of expected) insertTopK(want, { id, similarity: cosineSimilarity(query, v) }, k);
        const got = await search.searchVector(userId, SPACE, query, k);
        assert.deepEqual(got.map((r) => r.id), want.map((r) => r.id));
        got.forEach((r, i) => assert.equal(r.similarity, want[i]!.similarity));
        assert.ok(got.every((r) => r.title === `task ${r.id}`));
      }
    }

    const indexedSearch = (maxBytes = 64 * 2 ** 20): [ReturnType<typeof searchService>, VectorIndexCache] => {
      const index = vectorIndexCache(storage.embeddings, { maxBytes });
      return [searchService({ storage, model, index }), index];
    };

    test('inserts, re-embeddings, deletions, model changes and writes by another instance all show at the next search', async () => {
      const [search, index] = indexedSearch();
      const alice = await newUser();
      const bob = await newUser();
      const mine = new Map<string, Float32Array>();
      for (let i = 0; i < 300; i++) {
        const v = randomVector();
        mine.set(await addTask(alice, v), v);
      }
      // Bob's vectors would rank first if they leaked in.
      await addTask(bob, randomVector());
      await assertExact(search, alice, mine);
      assert.ok(index.bytes() > 0);

      // Inserted, through this instance and through another one.
      for (let i = 0; i < 5; i++) {
        const v = randomVector();
        mine.set(await addTask(alice, v), v);
        const w = randomVector();
        mine.set(await addTask(alice, w, other), w);
      }
      await assertExact(search, alice, mine);

      // Re-embedded (a title changed).
      const ids = [...mine.keys()];
      for (const id of ids.slice(0, 20)) {
        const v = randomVector();
        await embed(other, alice, id, v);
        mine.set(id, v);
      }
      await assertExact(search, alice, mine);

      // Tasks deleted (the embedding goes by cascade), here and on the other instance.
      for (const id of ids.slice(20, 40)) {
        assert.equal(await (Number(id.at(-1)) % 2 ? storage : other).tasks.delete(alice, id), true);
        mine.delete(id);
      }
      await assertExact(search, alice, mine);

      // Re-embedded with another model: no longer in the space searched.
      for (const id of ids.slice(40, 45)) {
        await embed(storage, alice, id, randomVector(), 'model-b');
        mine.delete(id);
      }
      // A delete and an insert between two searches (the index size alone would not tell).
      await storage.tasks.delete(alice, ids[50]!);
      mine.delete(ids[50]!);
      const v = randomVector();
      mine.set(await addTask(alice, v), v);
      await assertExact(search, alice, mine);

      // A query equal to a stored vector finds it first with similarity 1.
      const [id, vector] = [...mine][123]!;
      const [first] = await search.searchVector(alice, SPACE, vector, 1);
      assert.equal(first?.id, id);
      assert.ok(Math.abs(first!.similarity - 1) < 1e-12);
    });

    test("vectorsOf returns only the user's tasks embedded in the space asked for", async () => {
      const alice = await newUser();
      const bob = await newUser();
      const v = randomVector();
      const mine = await addTask(alice, v);
      const bobs = await addTask(bob, randomVector());
      const otherModel = await addTask(alice, randomVector());
      await embed(storage, alice, otherModel, randomVector(), 'model-b');
      const found = await storage.embeddings.vectorsOf(alice, SPACE, [mine, bobs, otherModel, newId()]);
      assert.deepEqual(found.map((r) => [r.id, r.title]), [[mine, `task ${mine}`]]);
      assert.deepEqual([...found[0]!.vector], [...v]);
    });

    test('a candidate deleted between the index scan and rescoring does not cost a result', async () => {
      const alice = await newUser();
      const mine = new Map<string, Float32Array>();
      for (let i = 0; i < 40; i++) {
        const v = randomVector();
        mine.set(await addTask(alice, v), v);
      }
      let deleteFirst = true;
      const racing: Storage = {
        ...storage,
        embeddings: {
          ...storage.embeddings,
          async vectorsOf(userId, space, taskIds) {
            if (deleteFirst) {
              deleteFirst = false;
              await other.tasks.delete(alice, taskIds[0]!); // another instance deletes a candidate meanwhile
              mine.delete(taskIds[0]!);
            }
            return storage.embeddings.vectorsOf(userId, space, taskIds);
          },
        },
      };
      const search = searchService({ storage: racing, model, index: vectorIndexCache(storage.embeddings, { maxBytes: 64 * 2 ** 20 }) });
      const query = randomVector();
      const want: Array<{ id: string; similarity: number }> = [];
      const got = await search.searchVector(alice, SPACE, query, 5);
      for (const [id, v] of mine) insertTopK(want, { id, similarity: cosineSimilarity(query, v) }, 5);
      assert.equal(deleteFirst, false);
      assert.deepEqual(got.map((r) => r.id), want.map((r) => r.id));
    });

    test('rows written before revisions existed (an upgraded database) are all loaded', async () => {
      const alice = await newUser();
      const mine = new Map<string, Float32Array>();
      for (let i = 0; i < 50; i++) {
        const v = randomVector();
        mine.set(await addTask(alice, v), v);
      }
      // What migration 0003 leaves for earlier rows: revision 0 and no counter yet.
      await rawExec(url, `update task_embeddings set revision = 0 where user_id = '${alice}'; delete from embedding_revisions where user_id = '${alice}'`);
      const [search] = indexedSearch();
      await assertExact(search, alice, mine);
      const v = randomVector();
      mine.set(await addTask(alice, v), v);
      await assertExact(search, alice, mine);
    });

    test('a user whose vectors do not fit the memory budget is searched in the database, with the same answers', async () => {
      const alice = await newUser();
      const mine = new Map<string, Float32Array>();
      for (let i = 0; i < 120; i++) {
        const v = randomVector();
        mine.set(await addTask(alice, v), v);
      }
      const [search, index] = indexedSearch(60 * 160); // room for about 60 vectors
      const query = randomVector();
      const got = await search.searchVector(alice, SPACE, query, 5);
      const want: Array<{ id: string; similarity: number }> = [];
      for (const [id, vec] of mine) insertTopK(want, { id, similarity: cosineSimilarity(query, vec) }, 5);
      assert.deepEqual(got.map((r) => r.id), want.map((r) => r.id));
      assert.equal(index.bytes(), 0);
    });

    test('a large index loads in the background while the database answers, then serves', async () => {
      const alice = await newUser();
      const mine = new Map<string, Float32Array>();
      for (let i = 0; i < 60; i++) {
        const v = randomVector();
        mine.set(await addTask(alice, v), v);
      }
      const index = vectorIndexCache(storage.embeddings, { maxBytes: 64 * 2 ** 20, inlineLoadMax: 50 });
      const search = searchService({ storage, model, index });
      const query = randomVector();
      assert.equal(await index.candidates(alice, SPACE, query, 5), undefined, 'the first search is left to the database');
      const want: Array<{ id: string; similarity: number }> = [];
      for (const [id, v] of mine) insertTopK(want, { id, similarity: cosineSimilarity(query, v) }, 5);
      assert.deepEqual((await search.searchVector(alice, SPACE, query, 5)).map((r) => r.id), want.map((r) => r.id));
      let candidates: string[] | undefined;
      for (let i = 0; i < 200 && !candidates; i++) {
        candidates = await index.candidates(alice, SPACE, query, 5);
        if (!candidates) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.ok(candidates && candidates.length >= 5 && candidates.length < 60, 'the loaded index narrows the search');
      await assertExact(search, alice, mine);
    });

    test('the least recently used user is dropped to keep within the budget', async () => {
      const users = [await newUser(), await newUser(), await newUser()];
      const sets = new Map<string, Map<string, Float32Array>>();
      for (const user of users) {
        const mine = new Map<string, Float32Array>();
        for (let i = 0; i < 40; i++) {
          const v = randomVector();
          mine.set(await addTask(user, v), v);
        }
        sets.set(user, mine);
      }
      const [search, index] = indexedSearch(2 * 64 * 1024 + 32 * 1024); // two users' indexes, not three
      for (const user of [...users, ...users]) {
        await assertExact(search, user, sets.get(user)!);
        assert.ok(index.bytes() <= 2 * 64 * 1024 + 32 * 1024, `${index.bytes()} bytes held`);
      }
    });

    // PostgreSQL only: SQLite has one writer at a time, so writers cannot lock rows in two orders.
    // (Two connections in one process would block each other's thread here, unlike two instances.)
    test('two instances storing batches that span the same users in opposite orders never deadlock', { skip: database.name === 'sqlite' }, async () => {
      const users = [await newUser(), await newUser()];
      for (let round = 0; round < 5; round++) {
        const batch = async (via: Storage, order: string[]) => {
          const done: Parameters<Storage['embeddings']['complete']>[0] = [];
          for (const userId of order) {
            const taskId = newId();
            const version = newId();
            await via.tasks.create({ id: taskId, userId, title: `task ${taskId}`, description: null, priority: 'low', status: 'pending', createdAt: now, updatedAt: now });
            await via.embeddings.enqueue({ taskId, userId, version, notBefore: now });
            done.push({ taskId, version, embedding: { taskId, userId, model: SPACE.model, dimensions: DIMS, contentHash: 'h', vector: randomVector(), embeddedAt: now } });
          }
          return () => via.embeddings.complete(done);
        };
        const [a, b] = [await batch(storage, users), await batch(other, [...users].reverse())];
        assert.deepEqual(await Promise.all([a(), b()]), [2, 2]);
      }
    });

    test('concurrent searches while tasks are written all get exact answers', async () => {
      const [search] = indexedSearch();
      const alice = await newUser();
      const mine = new Map<string, Float32Array>();
      for (let i = 0; i < 100; i++) {
        const v = randomVector();
        mine.set(await addTask(alice, v), v);
      }
      const writes = (async () => {
        for (let i = 0; i < 20; i++) {
          const v = randomVector();
          mine.set(await addTask(alice, v, i % 2 ? other : storage), v);
        }
      })();
      const searches = Array.from({ length: 20 }, () => search.searchVector(alice, SPACE, randomVector(), 5));
      for (const found of await Promise.all(searches)) assert.equal(found.length, 5);
      await writes;
      await assertExact(search, alice, mine);
    });
  });
}
