import { sql, type Kysely, type Migration } from 'kysely';
import type { SqlDialectName } from '../storage.js';

/**
 * Task embeddings and the queue of tasks waiting to be (re-)embedded.
 *
 * Vectors are float32 little-endian bytes on both databases (BLOB / bytea), scored
 * exactly: with sqlite-vec's vec_distance_cosine on SQLite, and in JS when the
 * extension is missing. On PostgreSQL with pgvector available, an `embedding vector`
 * column is added as well and searched with `<=>`; without it, the bytes are scored
 * in JS (see embedding-repository.ts).
 */
export function taskEmbeddings(dialect: SqlDialectName): Migration {
  const time = dialect === 'postgres' ? sql`timestamptz` : sql`text`;
  const bytes = dialect === 'postgres' ? sql`bytea` : sql`blob`;
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('task_embeddings')
        .addColumn('task_id', 'text', (c) => c.primaryKey().references('tasks.id').onDelete('cascade'))
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('dimensions', 'integer', (c) => c.notNull())
        .addColumn('content_hash', 'text', (c) => c.notNull())
        .addColumn('vector', bytes, (c) => c.notNull())
        .addColumn('embedded_at', time, (c) => c.notNull())
        .execute();
      // Search reads one user's vectors of one model and size.
      await db.schema
        .createIndex('task_embeddings_user_space')
        .on('task_embeddings')
        .columns(['user_id', 'model', 'dimensions', 'task_id'])
        .execute();

      // A row per task whose embedding is missing or out of date. `version` changes on every
      // enqueue, so a slow embedder never overwrites a newer title (see EmbeddingRepository.complete).
      await db.schema
        .createTable('embedding_queue')
        .addColumn('task_id', 'text', (c) => c.primaryKey().references('tasks.id').onDelete('cascade'))
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', time, (c) => c.notNull())
        .addColumn('last_error', 'text')
        .execute();
      await db.schema.createIndex('embedding_queue_next_attempt_at').on('embedding_queue').column('next_attempt_at').execute();

      if (dialect === 'postgres') await addPgvectorColumn(db);
    },
  };
}

/** Adds `embedding vector` when the server has pgvector; a refusal (not installed, no privilege) is not an error. */
async function addPgvectorColumn(db: Kysely<unknown>): Promise<void> {
  const available = await sql<{ n: number }>`select count(*)::int as n from pg_available_extensions where name = 'vector'`.execute(db);
  if (!available.rows[0]?.n) return;
  await sql`savepoint pgvector`.execute(db);
  try {
    await sql`create extension if not exists vector`.execute(db);
    await sql`alter table task_embeddings add column embedding vector`.execute(db);
    await sql`release savepoint pgvector`.execute(db);
  } catch {
    await sql`rollback to savepoint pgvector`.execute(db);
  }
}
