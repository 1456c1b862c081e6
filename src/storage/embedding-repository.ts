import { sql, type Kysely } from 'kysely';
import { bytesToVector, cosineSimilarity, insertTopK, vectorToBytes } from '../shared/vectors.js';
import type { Database } from './schema.js';
import type {
  EmbeddingJob,
  EmbeddingRepository,
  EmbeddingSpace,
  SimilarTask,
  SqlDialectName,
  StoredEmbedding,
  TaskEmbedding,
  VectorSearchMethod,
} from './storage.js';

/** Rows scored per round trip when vectors are scored in JS: bounds memory to ~6 MB at 1536 dimensions. */
const JS_SCAN_PAGE = 1000;
/** Ids per `in (…)` list: well under SQLite's and PostgreSQL's parameter limits. */
const ID_BATCH = 500;
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

  /** The user's embeddings in one space: what search, counting and listing read. */
  const inSpace = (userId: string, space: EmbeddingSpace) =>
    db
      .selectFrom('task_embeddings')
      .where('user_id', '=', userId)
      .where('model', '=', space.model)
      .where('dimensions', '=', space.dimensions);

  async function searchJs(userId: string, space: EmbeddingSpace, query: Float32Array, topK: number) {
    const best: Array<{ id: string; similarity: number }> = [];
    let cursor = '';
    for (;;) {
      const rows = await inSpace(userId, space)
        .select(['task_id', 'vector'])
        .where('task_id', '>', cursor)
        .orderBy('task_id')
        .limit(JS_SCAN_PAGE)
        .execute();
      for (const row of rows) {
        insertTopK(best, { id: row.task_id, similarity: cosineSimilarity(query, bytesToVector(row.vector)) }, topK);
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
        // Storing an embedding locks the user's revision row (migration 0003): take those
        // locks in one order, so that two instances' batches can never deadlock.
        const ordered = [...done].sort((a, b) => compare(a.embedding?.userId ?? '', b.embedding?.userId ?? '') || compare(a.taskId, b.taskId));
        for (const { taskId, version, embedding } of ordered) {
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

    async revision(userId) {
      const row = await db.selectFrom('embedding_revisions').select('revision').where('user_id', '=', userId).executeTakeFirst();
      return row ? Number(row.revision) : 0;
    },

    async changedSince(userId, { after, limit }) {
      const rows = await db
        .selectFrom('task_embeddings')
        .select(['task_id', 'model', 'dimensions', 'revision', 'vector'])
        .where('user_id', '=', userId)
        .where((eb) => eb(eb.refTuple('revision', 'task_id'), '>', eb.tuple(after.revision, after.taskId)))
        .orderBy('revision')
        .orderBy('task_id')
        .limit(limit)
        .execute();
      return rows.map(
        (r): StoredEmbedding => ({ taskId: r.task_id, model: r.model, dimensions: r.dimensions, revision: Number(r.revision), vector: bytesToVector(r.vector) }),
      );
    },

    async countIn(userId, space) {
      const row = await inSpace(userId, space)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },

    async idsIn(userId, space) {
      const rows = await inSpace(userId, space).select('task_id').execute();
      return rows.map((r) => r.task_id);
    },

    async vectorsOf(userId, space, taskIds) {
      const found: Array<{ id: string; title: string; vector: Float32Array }> = [];
      for (let start = 0; start < taskIds.length; start += ID_BATCH) {
        // By primary key only: with owner and space in the WHERE clause, PostgreSQL (stale
        // statistics after a bulk load) may walk the user's whole space index instead.
        const rows = await db
          .selectFrom('task_embeddings as e')
          .innerJoin('tasks as t', 't.id', 'e.task_id')
          .select(['e.task_id', 'e.user_id', 'e.model', 'e.dimensions', 't.user_id as owner', 't.title', 'e.vector'])
          .where('e.task_id', 'in', taskIds.slice(start, start + ID_BATCH))
          .execute();
        for (const r of rows) {
          if (r.user_id !== userId || r.owner !== userId || r.model !== space.model || r.dimensions !== space.dimensions) continue;
          found.push({ id: r.task_id, title: r.title, vector: bytesToVector(r.vector) });
        }
      }
      return found;
    },

    searchMethod: method,
  };
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
