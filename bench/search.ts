/**
 * Semantic search benchmark (standalone: `npx tsx bench/search.ts`).
 *
 * For SQLite, and PostgreSQL when BENCH_DATABASE_URL names a server (a scratch database
 * is created and dropped): one user with 1,000, 10,000 and 100,000 tasks embedded at
 * 1536 dimensions (vectors from the fake server's embedding function, written through
 * the storage layer), then
 *  - search latency p50/p99 of the search service with precomputed query vectors (the
 *    query embedding is excluded: this is the time spent in our code and the database):
 *    the in-memory int8 index + exact rescoring (what the app does), beside the
 *    database scoring every vector (sqlite-vec / JS; the fallback, as the baseline);
 *  - the first search of a cold index, and when its index is ready (up to 20,000 vectors it
 *    loads within that search; larger ones load in the background, the database answering);
 *  - RSS before and after 200 repeated searches (memory must stay flat);
 *  - bulk embedding throughput: queued tasks embedded through the embedding model wrapper
 *    and stored (admin reindex's path) against the fake server in-process, batched as the
 *    worker does, beside one request per task.
 * Sizes can be narrowed with BENCH_SEARCH_SIZES=1000,10000.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../src/config/config.js';
import { embedInto } from '../src/fake-openai/embeddings.js';
import { startFakeOpenAI } from '../src/fake-openai/server.js';
import { sha256 } from '../src/shared/hash.js';
import { newId } from '../src/shared/ids.js';
import { embeddingWorker } from '../src/services/embedding-worker.js';
import { searchService, type SearchService } from '../src/services/search-service.js';
import { vectorIndexCache } from '../src/services/vector-index/vector-index-cache.js';
import { embeddingText } from '../src/services/task-embedder.js';
import { openStorage } from '../src/storage/open-storage.js';
import type { Storage } from '../src/storage/storage.js';
import { embeddingModel } from '../src/upstream/embedding-model.js';
import { providerTransport } from '../src/upstream/transport.js';

const DIMS = 1536;
const MODEL = 'text-embedding-3-small';
const SPACE = { model: MODEL, dimensions: DIMS };
const SIZES = (process.env.BENCH_SEARCH_SIZES ?? '1000,10000,100000').split(',').map(Number);
const SEARCHES = 200;
/** Latency sampling stops early after this long per size (PostgreSQL's JS scoring at 100k is slow). */
const SAMPLE_BUDGET_MS = 20_000;
const BULK_TASKS = 5000;

const WORDS = ('invoice budget meeting report garden kitchen dentist passport summer winter boiler bike rent landlord slides ' +
  'agenda offsite chairs archive mail freezer inventory customer release deploy review plan call email order book clean ' +
  'fix pay renew water organise prepare service paint garage photo album trip school doctor insurance tax car').split(' ');

let seed = 42;
const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
const title = (i: number) => `${Array.from({ length: 3 + Math.floor(random() * 5) }, () => WORDS[Math.floor(random() * WORDS.length)]).join(' ')} ${i}`;
const vectorOf = (text: string) => {
  const v = new Float32Array(DIMS);
  embedInto(text, DIMS, v, 0);
  return v;
};

interface Database {
  name: string;
  create(): Promise<{ url: string; drop(): Promise<void> }>;
}

const sqlite: Database = {
  name: 'sqlite',
  async create() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oab-bench-search-'));
    return { url: `sqlite:${path.join(dir, 'app.db')}`, drop: async () => fs.rmSync(dir, { recursive: true, force: true }) };
  },
};

function postgres(adminUrl: string): Database {
  const admin = async (query: string) => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(query);
    } finally {
      await client.end();
    }
  };
  return {
    name: 'postgres',
    async create() {
      const name = `oab_bench_search_${randomBytes(4).toString('hex')}`;
      await admin(`CREATE DATABASE ${name}`);
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
    },
  };
}

async function createUser(storage: Storage): Promise<string> {
  const id = newId();
  const now = new Date().toISOString();
  await storage.users.createWithKey({ id, name: 'bench', createdAt: now }, { id: newId(), userId: id, keyHash: newId(), keyPrefix: 'b', createdAt: now });
  return id;
}

/** Adds `count` tasks for `userId`, each queued; embedded (vectors written directly) unless `embed` is false. */
async function seedTasks(storage: Storage, userId: string, from: number, count: number, embed: boolean): Promise<void> {
  const now = new Date().toISOString();
  for (let start = from; start < from + count; start += 1000) {
    await storage.transaction(async (tx) => {
      for (let i = start; i < Math.min(from + count, start + 1000); i++) {
        const id = newId();
        const t = title(i);
        await tx.tasks.create({ id, userId, title: t, description: null, priority: 'medium', status: 'pending', createdAt: now, updatedAt: now });
        const version = newId();
        await tx.embeddings.enqueue({ taskId: id, userId, version, notBefore: now });
        if (embed) {
          const text = embeddingText(t, null);
          await tx.embeddings.complete([
            { taskId: id, version, embedding: { taskId: id, userId, model: MODEL, dimensions: DIMS, contentHash: sha256(text), vector: vectorOf(text), embeddedAt: now } },
          ]);
        }
      }
    });
  }
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
const rows: string[][] = [];
const log = (line: string) => process.stderr.write(`${line}\n`);

/** Latencies of repeated searches (after 3 warm-up ones), and RSS around them. */
async function sample(search: SearchService, userId: string, queries: Float32Array[], budgetMs: number) {
  for (let i = 0; i < 3; i++) await search.searchVector(userId, SPACE, queries[i]!, 5);
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const times: number[] = [];
  const budgetEnd = performance.now() + budgetMs;
  for (let i = 0; i < SEARCHES && performance.now() < budgetEnd; i++) {
    const t0 = performance.now();
    const found = await search.searchVector(userId, SPACE, queries[i % queries.length]!, 5);
    times.push(performance.now() - t0);
    if (found.length !== 5) throw new Error('search returned too few results');
  }
  const rssAfter = process.memoryUsage().rss;
  times.sort((a, b) => a - b);
  return { times, rssBefore, rssAfter };
}

async function benchSearch(database: Database): Promise<void> {
  const db = await database.create();
  const storage = openStorage(db.url, { poolSize: 4 });
  try {
    await storage.migrate();
    const method = await storage.embeddings.searchMethod();
    const model = embeddingModel(undefined, loadConfig({ DATABASE_URL: 'sqlite:unused' }).openai);
    const indexes = vectorIndexCache(storage.embeddings, { maxBytes: 1024 * 2 ** 20 });
    const indexed = searchService({ storage, model, index: indexes });
    const scanned = searchService({ storage, model });
    const userId = await createUser(storage);
    // Another user's tasks share the table, as in real use.
    await seedTasks(storage, await createUser(storage), 0, 1000, true);
    const queries = Array.from({ length: 20 }, (_, i) => vectorOf(title(1_000_000 + i)));
    let have = 0;
    for (const size of SIZES) {
      const seedStart = performance.now();
      await seedTasks(storage, userId, have, size - have, true);
      have = size;
      log(`${database.name}: ${size} tasks seeded in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

      indexes.clear();
      const coldStart = performance.now();
      await indexed.searchVector(userId, SPACE, queries[0]!, 5);
      const cold = performance.now() - coldStart;
      // A large index loads in the background (the database answers meanwhile): wait for it.
      while (!(await indexes.candidates(userId, SPACE, queries[0]!, 5))) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const ready = performance.now() - coldStart;
      // Exactness check on the way: both paths find the same similarities (sqlite-vec computes
      // in float32, so exact ties may come out in another order there).
      for (const query of queries.slice(0, 3)) {
        const a = await indexed.searchVector(userId, SPACE, query, 5);
        const b = await scanned.searchVector(userId, SPACE, query, 5);
        if (a.some((r, i) => Math.abs(r.similarity - (b[i]?.similarity ?? 2)) > 1e-5)) throw new Error('index and database disagree');
      }
      for (const [label, search, budget] of [
        ['in-memory int8 index + exact rescoring', indexed, SAMPLE_BUDGET_MS],
        [`database scan (${method}), baseline`, scanned, SAMPLE_BUDGET_MS / 2],
      ] as const) {
        const { times, rssBefore, rssAfter } = await sample(search, userId, queries, budget);
        rows.push([
          database.name,
          label,
          size.toLocaleString('en'),
          percentile(times, 50).toFixed(2),
          percentile(times, 99).toFixed(2),
          String(times.length),
          search === indexed ? cold.toFixed(0) : '',
          search === indexed ? ready.toFixed(0) : '',
          mb(rssBefore),
          mb(rssAfter),
        ]);
        log(`${database.name} ${size} ${label}: p50 ${percentile(times, 50).toFixed(2)} ms over ${times.length} searches`);
      }
    }
  } finally {
    await storage.close();
    await db.drop();
  }
}

const bulkRows: string[][] = [];

async function benchBulk(database: Database): Promise<void> {
  const fake = await startFakeOpenAI();
  const config = loadConfig({ OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: 'sk-bench', DATABASE_URL: 'sqlite:unused' });
  for (const [mode, count] of [['batched (reindex)', BULK_TASKS], ['one task per request', 500]] as const) {
    const db = await database.create();
    const storage = openStorage(db.url, { poolSize: 4 });
    try {
      await storage.migrate();
      const userId = await createUser(storage);
      await seedTasks(storage, userId, 0, count, false);
      const model = embeddingModel(providerTransport(config.openai), config.openai);
      fake.reset();
      const t0 = performance.now();
      if (mode === 'batched (reindex)') {
        const summary = await embeddingWorker({ storage, model, options: config.embeddingWorker }).reindex();
        if (summary.embedded !== count) throw new Error(`embedded ${summary.embedded} of ${count}`);
      } else {
        const jobs = await storage.embeddings.claimDue({ now: '9999-12-31T00:00:00.000Z', limit: count, leaseUntil: new Date().toISOString() });
        for (const job of jobs) {
          const text = embeddingText(job.title, job.description);
          const [vector] = await model.embed([text]);
          await storage.embeddings.complete([
            { taskId: job.taskId, version: job.version, embedding: { taskId: job.taskId, userId, model: MODEL, dimensions: DIMS, contentHash: sha256(text), vector: vector!, embeddedAt: new Date().toISOString() } },
          ]);
        }
      }
      const seconds = (performance.now() - t0) / 1000;
      bulkRows.push([database.name, mode, count.toLocaleString('en'), String(fake.counters.embeddings), Math.round(count / seconds).toLocaleString('en')]);
    } finally {
      await storage.close();
      await db.drop();
    }
  }
  await fake.close();
}

function table(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join('\n');
}

const databases = [sqlite, ...(process.env.BENCH_DATABASE_URL ? [postgres(process.env.BENCH_DATABASE_URL)] : [])];
const started = performance.now();
for (const database of databases) {
  await benchSearch(database);
  await benchBulk(database);
}
console.log(`\nSemantic search (${DIMS} dimensions, top 5, one user; query embedding excluded)\n`);
console.log(table(['database', 'search', 'tasks', 'p50 ms', 'p99 ms', 'searches', 'first search ms', 'index ready ms', 'RSS before', 'RSS after'], rows));
console.log(`\nBulk embedding through the embedding model wrapper + upsert (fake server in-process)\n`);
console.log(table(['database', 'mode', 'tasks', 'requests', 'tasks/s'], bulkRows));
console.log(`\nTargets (SQLite): p50 < 5 ms at 10,000 tasks, < 50 ms at 100,000. Total bench time ${((performance.now() - started) / 1000).toFixed(0)} s.`);
