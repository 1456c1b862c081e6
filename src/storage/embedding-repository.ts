import { endianness } from 'node:os';
import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { EmbeddingJob, EmbeddingRepository, SimilarTask, SqlDialectName, TaskEmbedding, VectorSearchMethod } from './storage.js';

/** Rows scored per round trip when vectors are scored in JS: bounds memory to ~6 MB at 1536 dimensions. */
const JS_SCAN_PAGE = 1000;
const LITTLE_ENDIAN = endianness() === 'LE';

/** float32 little-endian bytes, as stored. */
export function vectorToBytes(vector: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength));
  const bytes = Buffer.allocUnsafe(vector.length * 4);
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i]!, i * 4);
  return bytes;
}

/**
 * Embeddings and the embedding queue. `method` says how search scores vectors:
 * sqlite-vec's vec_distance_cosine in SQL, pgvector's `<=>`, or exactly in JS over
 * pages of rows (any database). Every method is exact: all of the user's vectors
 * in the space are scored.
 */
export function embeddingRepository(
  dialect: SqlDialectName,
  db: Kysely<Database>,
  method: () => Promise<VectorSearchMethod>,
): EmbeddingRepository {
  const time = (value: string) => (dialect === 'postgres' ? sql`cast(${value} as timestamptz)` : sql`${value}`);

  const jobs = () =>
    db
      .selectFrom('embedding_queue as q')
      .innerJoin('tasks as t', 't.id', 'q.task_id')
      .leftJoin('task_embeddings as e', 'e.task_id', 'q.task_id')
      .select([
        'q.task_id',
        'q.user_id',
        'q.version',
        'q.attempts',
        't.title',
        't.description',
        'e.model',
        'e.dimensions',
        'e.content_hash',
      ]);
  type JobRow = Awaited<ReturnType<ReturnType<typeof jobs>['execute']>>[number];
  const toJob = (r: JobRow): EmbeddingJob => ({
    taskId: r.task_id,
    userId: r.user_id,
    title: r.title,
    description: r.description,
    version: r.version,
    attempts: r.attempts,
    stored: r.model !== null && r.dimensions !== null && r.content_hash !== null
      ? { model: r.model, dimensions: r.dimensions, contentHash: r.content_hash }
      : null,
  });

  async function upsert(tx: Kysely<Database>, e: TaskEmbedding, pgvector: boolean): Promise<void> {
    const row = {
      task_id: e.taskId,
      user_id: e.userId,
      model: e.model,
      dimensions: e.dimensions,
      content_hash: e.contentHash,
      vector: vectorToBytes(e.vector),
      embedded_at: e.embeddedAt,
    };
    const { task_id: _, ...update } = row;
    await tx
      .insertInto('task_embeddings')
      .values(row)
      .onConflict((oc) => oc.column('task_id').doUpdateSet(update))
      .execute();
    if (pgvector) {
      await sql`update task_embeddings set embedding = ${`[${e.vector.join(',')}]`}::vector where task_id = ${e.taskId}`.execute(tx);
    }
  }

  async function searchJs(userId: string, space: { model: string; dimensions: number }, query: Float32Array, topK: number) {
    const dims = space.dimensions;
    let queryNorm = 0;
    for (let i = 0; i < dims; i++) queryNorm += query[i]! * query[i]!;
    queryNorm = Math.sqrt(queryNorm);
    // Best first; kept short (topK ≤ 50), so insertion into a sorted array beats a heap.
    const best: Array<{ id: string; similarity: number }> = [];
    const scratch = new Float32Array(dims);
    let cursor = '';
    for (;;) {
      const rows = await db
        .selectFrom('task_embeddings')
        .select(['task_id', 'vector'])
        .where('user_id', '=', userId)
        .where('model', '=', space.model)
        .where('dimensions', '=', dims)
        .where('task_id', '>', cursor)
        .orderBy('task_id')
        .limit(JS_SCAN_PAGE)
        .execute();
      for (const row of rows) {
        const bytes = row.vector;
        // Aligned bytes are read in place; others are copied once.
        const v = LITTLE_ENDIAN && bytes.byteOffset % 4 === 0
          ? new Float32Array(bytes.buffer, bytes.byteOffset, dims)
          : readInto(scratch, bytes);
        let dot = 0;
        let norm = 0;
        for (let i = 0; i < dims; i++) {
          const x = v[i]!;
          dot += x * query[i]!;
          norm += x * x;
        }
        const similarity = norm === 0 || queryNorm === 0 ? 0 : dot / (Math.sqrt(norm) * queryNorm);
        if (best.length === topK && !better(similarity, row.task_id, best[topK - 1]!)) continue;
        let at = best.length;
        while (at > 0 && better(similarity, row.task_id, best[at - 1]!)) at--;
        best.splice(at, 0, { id: row.task_id, similarity });
        if (best.length > topK) best.pop();
      }
      if (rows.length < JS_SCAN_PAGE) break;
      cursor = rows[rows.length - 1]!.task_id;
    }
    if (best.length === 0) return [];
    const titles = new Map(
      (await db.selectFrom('tasks').select(['id', 'title']).where('user_id', '=', userId).where('id', 'in', best.map((b) => b.id)).execute()).map(
        (r) => [r.id, r.title],
      ),
    );
    return best.filter((b) => titles.has(b.id)).map((b) => ({ id: b.id, title: titles.get(b.id)!, similarity: b.similarity }));
  }

  return {
    async enqueue({ taskId, userId, version, notBefore }) {
      await db
        .insertInto('embedding_queue')
        .values({ task_id: taskId, user_id: userId, version, attempts: 0, next_attempt_at: notBefore, last_error: null })
        .onConflict((oc) => oc.column('task_id').doUpdateSet({ version, attempts: 0, next_attempt_at: notBefore, last_error: null }))
        .execute();
    },

    async job(taskId) {
      const row = await jobs().where('q.task_id', '=', taskId).executeTakeFirst();
      return row && toJob(row);
    },

    async claimDue({ now, limit, leaseUntil }) {
      const rows = await jobs().where('q.next_attempt_at', '<=', now).orderBy('q.next_attempt_at').limit(limit).execute();
      if (rows.length === 0) return [];
      await db
        .updateTable('embedding_queue')
        .set({ next_attempt_at: leaseUntil })
        .where('task_id', 'in', rows.map((r) => r.task_id))
        .execute();
      return rows.map(toJob);
    },

    async complete(done) {
      if (done.length === 0) return 0;
      const pgvector = (await method()) === 'pgvector';
      const work = async (tx: Kysely<Database>) => {
        let stored = 0;
        for (const { taskId, version, embedding } of done) {
          const deleted = await tx.deleteFrom('embedding_queue').where('task_id', '=', taskId).where('version', '=', version).executeTakeFirst();
          if (Number(deleted.numDeletedRows) === 0 || !embedding) continue;
          await upsert(tx, embedding, pgvector);
          stored++;
        }
        return stored;
      };
      return db.isTransaction ? work(db) : db.transaction().execute(work);
    },

    async reschedule(taskIds, { notBefore, failed, error }) {
      if (taskIds.length === 0) return;
      await db
        .updateTable('embedding_queue')
        .set((eb) => ({
          next_attempt_at: notBefore,
          ...(failed && { attempts: eb('attempts', '+', 1) }),
          ...(error !== undefined && { last_error: error.slice(0, 500) }),
        }))
        .where('task_id', 'in', taskIds)
        .execute();
    },

    async enqueueStale({ model, dimensions }, { version, notBefore }) {
      const sizeDiffers = dimensions === undefined ? sql`false` : sql`e.dimensions <> ${dimensions}`;
      const result = await sql`
        insert into embedding_queue (task_id, user_id, version, attempts, next_attempt_at)
        select t.id, t.user_id, ${version}, 0, ${time(notBefore)}
        from tasks t left join task_embeddings e on e.task_id = t.id
        where e.task_id is null or e.model <> ${model} or ${sizeDiffers}
        on conflict (task_id) do nothing`.execute(db);
      return Number(result.numAffectedRows ?? 0);
    },

    async dimensionsInUse(model) {
      const rows = await db.selectFrom('task_embeddings').select('dimensions').distinct().where('model', '=', model).execute();
      return rows.map((r) => r.dimensions);
    },

    async pendingCount() {
      const row = await db.selectFrom('embedding_queue').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      return Number(row.n);
    },

    async search(userId, space, vector, topK) {
      if (vector.length !== space.dimensions) throw new Error('query vector does not match the embedding space');
      const how = await method();
      if (how === 'js') return searchJs(userId, space, vector, topK);
      // Top k by distance first, titles joined only for those; ties broken by id so the order is stable.
      const distance =
        how === 'sqlite-vec'
          ? sql<number>`vec_distance_cosine(vector, ${vectorToBytes(vector)})`
          : sql<number>`(embedding <=> ${`[${vector.join(',')}]`}::vector)`;
      const result = await sql<{ id: string; title: string; distance: number }>`
        select t.id, t.title, k.distance from (
          select task_id, ${distance} as distance from task_embeddings
          where user_id = ${userId} and model = ${space.model} and dimensions = ${space.dimensions}
          order by distance, task_id limit ${topK}
        ) k join tasks t on t.id = k.task_id and t.user_id = ${userId}
        order by k.distance, t.id`.execute(db);
      return result.rows.map((r): SimilarTask => ({ id: r.id, title: r.title, similarity: 1 - Number(r.distance) }));
    },

    searchMethod: method,
  };
}

/** Higher similarity first; equal similarities in id order. */
const better = (similarity: number, id: string, than: { id: string; similarity: number }) =>
  similarity > than.similarity || (similarity === than.similarity && id < than.id);

function readInto(out: Float32Array, bytes: Buffer): Float32Array {
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}
