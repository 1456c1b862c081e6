import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import { startFakeOpenAI, type FakeOpenAI } from '../src/fake-openai/server.js';
import { userService } from '../src/services/user-service.js';
import { openStorage } from '../src/storage/open-storage.js';
import { runAdmin } from './helpers/admin.js';
import { TEST_DATABASES } from './helpers/databases.js';
import { createChatFixture, type ChatFixture } from './helpers/fake-upstream.js';
import { createTestApp } from './helpers/test-app.js';

/** A worker quick enough for tests: polls every 50 ms, backs off at most 200 ms. */
const FAST_WORKER = { EMBEDDING_WORKER_INTERVAL_MS: '50', EMBEDDING_RETRY_MAX_MS: '200', OPENAI_MAX_RETRIES: '0' };

type Result = { id: string; title: string; similarity: number };

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 2000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`);
    await sleep(20);
  }
}

for (const database of TEST_DATABASES) {
  describe(`POST /search/semantic (${database.name})`, () => {
    let f: ChatFixture;
    let alice: string;
    let bob: string;
    before(async () => {
      f = await createChatFixture({ database, env: FAST_WORKER });
      alice = (await f.t.createUser('alice')).apiKey;
      bob = (await f.t.createUser('bob')).apiKey;
    });
    beforeEach(() => f.fake.reset());
    after(() => f.close());

    const create = async (key: string, body: Record<string, unknown>) => {
      const res = await f.t.request({ method: 'POST', url: '/tasks', key, json: body });
      assert.equal(res.statusCode, 201, res.body);
      return res.json() as { id: string; title: string };
    };
    const search = (key: string, body: Record<string, unknown>) => f.t.request({ method: 'POST', url: '/search/semantic', key, json: body });
    const results = async (key: string, query: string, topK?: number): Promise<Result[]> => {
      const res = await search(key, { query, ...(topK !== undefined && { top_k: topK }) });
      assert.equal(res.statusCode, 200, res.body);
      return res.json().results;
    };

    test('an exact-text query ranks its task first with similarity ≈ 1', async () => {
      const task = await create(alice, { title: 'Renew the passport before the summer trip' });
      await create(alice, { title: 'Water the garden plants' });
      const [first] = await results(alice, 'Renew the passport before the summer trip');
      assert.equal(first?.id, task.id);
      assert.equal(first?.title, task.title);
      assert.ok(first!.similarity > 0.999, `similarity ${first?.similarity}`);
    });

    test('results are sorted by similarity, most similar first, and honour top_k', async () => {
      for (const title of ['Book dentist appointment', 'Call the dentist about the bill', 'Buy dog food', 'Fix the bike', 'Pay rent', 'Clean the kitchen', 'Email the landlord']) {
        await create(alice, { title });
      }
      const all = await results(alice, 'dentist appointment', 50);
      assert.ok(all.length >= 7);
      for (let i = 1; i < all.length; i++) assert.ok(all[i - 1]!.similarity >= all[i]!.similarity, 'sorted desc');
      assert.equal(all[0]!.title, 'Book dentist appointment');
      assert.equal(all[1]!.title, 'Call the dentist about the bill');
      assert.equal((await results(alice, 'dentist appointment')).length, 5, 'top_k defaults to 5');
      assert.deepEqual(await results(alice, 'dentist appointment', 3), all.slice(0, 3));
    });

    test('top_k outside 1..50 or not an integer answers 422 naming top_k', async () => {
      for (const top_k of [0, 51, 2.5, '3', -1]) {
        const res = await search(alice, { query: 'anything', top_k });
        assert.equal(res.statusCode, 422, `top_k ${top_k}`);
        assert.equal(res.json().error.code, 'validation_error');
        assert.match(res.json().error.message, /top_k/);
      }
    });

    test('a blank or missing query answers 422 naming query', async () => {
      for (const body of [{ query: '' }, { query: '   ' }, {}, { query: 42 }]) {
        const res = await search(alice, body);
        assert.equal(res.statusCode, 422, JSON.stringify(body));
        assert.match(res.json().error.message, /query/);
      }
    });

    test('without an API key the search answers 401', async () => {
      assert.equal((await f.t.request({ method: 'POST', url: '/search/semantic', json: { query: 'x' } })).statusCode, 401);
    });

    test("another user's tasks never appear", async () => {
      await create(bob, { title: 'Bob secret quarterly tax filing' });
      const mine = await create(alice, { title: 'Alice quarterly tax filing' });
      const found = await results(alice, 'Bob secret quarterly tax filing', 50);
      assert.ok(found.some((r) => r.id === mine.id));
      assert.ok(found.every((r) => r.title !== 'Bob secret quarterly tax filing'));
      const bobs = await results(bob, 'Alice quarterly tax filing', 50);
      assert.deepEqual(bobs.map((r) => r.title), ['Bob secret quarterly tax filing']);
    });

    test('editing a title re-embeds the task: the old title no longer ranks it first, the new one does', async () => {
      const task = await create(alice, { title: 'Organise the photo albums' });
      await create(alice, { title: 'Organise the photo exhibition' });
      assert.equal((await results(alice, 'Organise the photo albums'))[0]?.id, task.id);
      const res = await f.t.request({ method: 'PATCH', url: `/tasks/${task.id}`, key: alice, json: { title: 'Repaint the garage door' } });
      assert.equal(res.statusCode, 200);
      const [first] = await results(alice, 'Repaint the garage door');
      assert.equal(first?.id, task.id);
      assert.equal(first?.title, 'Repaint the garage door');
      assert.ok(first!.similarity > 0.999);
      assert.notEqual((await results(alice, 'Organise the photo albums'))[0]?.id, task.id);
    });

    test('an unchanged title or description is not embedded again', async () => {
      const task = await create(alice, { title: 'Prepare the slides', description: 'for Monday' });
      await f.fake.waitFor((c) => c.embeddedInputs === 1);
      const patch = (json: unknown) => f.t.request({ method: 'PATCH', url: `/tasks/${task.id}`, key: alice, json });
      assert.equal((await patch({ title: 'Prepare the slides', description: 'for Monday' })).statusCode, 200);
      assert.equal((await patch({ priority: 'high' })).statusCode, 200);
      assert.equal((await patch({ status: 'completed' })).statusCode, 200);
      await sleep(200); // the worker had time to act, had anything been queued
      assert.equal(f.fake.counters.embeddedInputs, 1);
      assert.equal(await f.t.storage.embeddings.pendingCount(), 0);
      // The same query twice is embedded once (the in-process query cache).
      await results(alice, 'slides for Monday');
      await results(alice, 'slides for Monday');
      assert.equal(f.fake.counters.embeddedInputs, 2);
    });

    test('an embedding outage does not fail task creation, and the task becomes searchable soon after it ends', async () => {
      f.fake.addFault({ path: 'embeddings', status: 503, times: 100_000 });
      const task = await create(alice, { title: 'Service the boiler during the outage' });
      const updated = await f.t.request({ method: 'PATCH', url: `/tasks/${task.id}`, key: alice, json: { description: 'before winter' } });
      assert.equal(updated.statusCode, 200);
      await sleep(300); // the worker keeps failing and backing off meanwhile
      assert.ok(f.fake.counters.faultsServed >= 2);
      assert.equal((await search(alice, { query: 'boiler' })).statusCode, 502, 'search itself needs the provider');

      f.fake.reset(); // the outage ends
      const ended = Date.now();
      const found = await eventually(async () => {
        const [first] = await results(alice, 'Service the boiler during the outage\n\nbefore winter');
        return first?.id === task.id ? first : undefined;
      });
      assert.ok(found.similarity > 0.999);
      assert.ok(Date.now() - ended < 2000, `searchable ${Date.now() - ended} ms after the outage`);
    });

    test('tasks created while the worker catches up are embedded in a few batched requests', async () => {
      f.fake.addFault({ path: 'embeddings', status: 500, times: 100_000 });
      const created = [];
      for (let i = 0; i < 40; i++) created.push(await create(alice, { title: `Batch task number ${i} about inventory` }));
      f.fake.reset();
      await f.fake.waitFor((c) => c.embeddedInputs >= 40, 3000);
      await eventually(async () => ((await f.t.storage.embeddings.pendingCount()) === 0 ? true : undefined));
      assert.equal(f.fake.counters.embeddedInputs, 40);
      assert.ok(f.fake.counters.embeddings <= 2, `${f.fake.counters.embeddings} embedding requests for 40 tasks`);
      const [first] = await results(alice, 'Batch task number 17 about inventory');
      assert.equal(first?.id, created[17]!.id);
    });

    test('a deleted task disappears from the results', async () => {
      const task = await create(alice, { title: 'Temporary errand to delete' });
      assert.equal((await results(alice, 'Temporary errand to delete'))[0]?.id, task.id);
      assert.equal((await f.t.request({ method: 'DELETE', url: `/tasks/${task.id}`, key: alice })).statusCode, 204);
      assert.ok((await results(alice, 'Temporary errand to delete', 50)).every((r) => r.id !== task.id));
    });
  });

  describe(`embedding model changes and reindex (${database.name})`, () => {
    let fake: FakeOpenAI;
    before(async () => {
      fake = await startFakeOpenAI();
    });
    after(() => fake.close());

    /** The app on an existing database, as a restart with `env` would build it. */
    async function startOn(url: string, env: Record<string, string>) {
      const config = loadConfig({ LOG_LEVEL: 'silent', OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: 'sk-test', ...FAST_WORKER, ...env, DATABASE_URL: url });
      const storage = openStorage(url, { poolSize: 4 });
      await storage.migrate();
      const app = await buildApp({ config, storage, logStream: new Writable({ write: (_c, _e, done) => done() }) });
      await app.ready();
      return {
        app,
        storage,
        request: (key: string, method: 'GET' | 'POST', url: string, json?: unknown) =>
          app.inject({ method, url, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, ...(json !== undefined && { payload: JSON.stringify(json) }) }),
        async close() {
          await app.close();
          await storage.close();
        },
      };
    }
    const spaces = async (storage: ReturnType<typeof openStorage>, model: string) => (await storage.embeddings.dimensionsInUse(model)).sort();

    for (const [what, before, afterEnv, model, dims] of [
      ['the model', {}, { OPENAI_EMBEDDING_MODEL: 'text-embedding-3-large' }, 'text-embedding-3-large', 3072],
      ['EMBEDDING_DIMENSIONS', {}, { EMBEDDING_DIMENSIONS: '256' }, 'text-embedding-3-small', 256],
      ['EMBEDDING_DIMENSIONS back to the default', { EMBEDDING_DIMENSIONS: '256' }, {}, 'text-embedding-3-small', 1536],
    ] as const) {
      test(`changing ${what} re-embeds every task on restart, and search uses only current vectors`, async () => {
        const db = await database.create();
        try {
          let app = await startOn(db.url, before);
          const { apiKey } = await userService(app.storage).createUser('alice');
          const ids: string[] = [];
          for (const title of ['Plan the offsite agenda', 'Order new office chairs', 'Archive old invoices']) {
            ids.push((await app.request(apiKey, 'POST', '/tasks', { title })).json().id);
          }
          await app.close();

          app = await startOn(db.url, afterEnv);
          await eventually(async () => ((await app.storage.embeddings.pendingCount()) === 0 && (await spaces(app.storage, model)).length ? true : undefined));
          const rows = await eventually(async () => {
            const res = await app.request(apiKey, 'POST', '/search/semantic', { query: 'Order new office chairs', top_k: 50 });
            const found = res.json().results as Result[];
            return found.length === 3 ? found : undefined;
          });
          assert.equal(rows[0]!.id, ids[1]);
          assert.ok(rows[0]!.similarity > 0.999);
          assert.deepEqual(await spaces(app.storage, model), [dims]);
          const vectors = await app.storage.embeddings.search(
            (await userService(app.storage).listUsers())[0]!.id,
            { model, dimensions: dims },
            new Float32Array(dims).fill(1 / Math.sqrt(dims)),
            50,
          );
          assert.equal(vectors.length, 3, 'every task has a current vector');
          await app.close();
        } finally {
          await db.drop();
        }
      });
    }

    test('admin reindex embeds every task queued while no provider was configured, once, and prints a summary', async () => {
      const t = await createTestApp({ database }); // no provider: tasks are stored and queued
      try {
        const { apiKey } = await t.createUser('alice');
        for (const title of ['Sort the mail', 'Defrost the freezer', 'Sort the mail']) {
          assert.equal((await t.request({ method: 'POST', url: '/tasks', key: apiKey, json: { title } })).statusCode, 201);
        }
        assert.equal(await t.storage.embeddings.pendingCount(), 3);
        fake.reset();
        const env = { DATABASE_URL: t.config.database.url, OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: 'sk-test' };
        const run = await runAdmin(['reindex'], env);
        assert.equal(run.code, 0, run.stderr);
        const summary = JSON.parse(run.stdout.trim());
        assert.deepEqual(summary, { model: 'text-embedding-3-small', dimensions: 1536, queued: 0, embedded: 3, unchanged: 0, failed: 0, pending: 0 });
        assert.equal(fake.counters.embeddings, 1, 'one batched request');
        assert.equal(fake.counters.embeddedInputs, 2, 'identical texts are embedded once');

        const again = JSON.parse((await runAdmin(['reindex'], env)).stdout.trim());
        assert.equal(again.embedded, 0);
        assert.equal(again.pending, 0);
      } finally {
        await t.close();
      }
    });
  });
}
