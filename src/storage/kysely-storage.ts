import { Migrator, sql, type Kysely } from 'kysely';
import { conversationQueries, conversationRepository } from './conversation-repository.js';
import { embeddingRepository } from './embedding-repository.js';
import { groupCommit } from './group-commit.js';
import { messageQueries, messageRepository } from './message-repository.js';
import { itemRepository } from './item-repository.js';
import { migrations } from './migrations/index.js';
import type { RunCompiled } from './precompiled-query.js';
import { responseRepository } from './response-repository.js';
import type { Database } from './schema.js';
import type { SqlDialectName, Storage, VectorSearchMethod } from './storage.js';
import { taskRepository } from './task-repository.js';
import { usageRepository } from './usage-repository.js';
import { userQueries, userRepository } from './user-repository.js';

type Repositories = Omit<Storage, 'transaction' | 'close' | 'ping' | 'migrate'>;

/** The hot queries, compiled once and run on the database or any transaction of it. */
type CompiledQueries = ReturnType<typeof compiledQueries>;
const compiledQueries = (db: Kysely<Database>, run?: RunCompiled) => ({
  users: userQueries(db, run),
  conversations: conversationQueries(db, run),
  messages: messageQueries(db, run),
});

function repositories(
  dialect: SqlDialectName,
  db: Kysely<Database>,
  queries: CompiledQueries,
  vectorSearch: () => Promise<VectorSearchMethod>,
): Repositories {
  return {
    dialect,
    users: userRepository(db, queries.users),
    conversations: conversationRepository(db, queries.conversations),
    messages: messageRepository(db, queries.messages),
    items: itemRepository(db),
    responses: responseRepository(db),
    tasks: taskRepository(db),
    embeddings: embeddingRepository(dialect, db, vectorSearch),
    usage: usageRepository(db),
  };
}

/**
 * The Storage both databases share: the same repositories over a dialect-specific Kysely.
 * `vectorSearch` is how embeddings are scored: given by the opener (SQLite knows whether
 * sqlite-vec loaded), else looked up once (PostgreSQL: whether the pgvector column exists).
 */
export function kyselyStorage(
  dialect: SqlDialectName,
  db: Kysely<Database>,
  options: {
    vectorSearch?: VectorSearchMethod;
    /** One writer connection (SQLite): concurrent transactions share commits (see group-commit). */
    groupCommit?: boolean;
    /** How the hot compiled queries run (default: through Kysely). */
    run?: RunCompiled;
  } = {},
): Storage {
  let method: Promise<VectorSearchMethod> | undefined;
  const vectorSearch = () => (method ??= options.vectorSearch ? Promise.resolve(options.vectorSearch) : detectPgvector(db));
  const queries = compiledQueries(db, options.run);
  const inTransaction = options.groupCommit ? groupCommit(db, options.run) : <T>(work: (tx: Kysely<Database>) => Promise<T>) => db.transaction().execute(work);
  return {
    ...repositories(dialect, db, queries, vectorSearch),
    transaction: (work) => inTransaction((tx) => work(repositories(dialect, tx, queries, vectorSearch))),
    async migrate() {
      // Kysely's migrator takes a lock (a row lock on PostgreSQL, the write lock on SQLite)
      // so that instances starting together apply each migration exactly once.
      const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations(dialect) } });
      const { error, results } = await migrator.migrateToLatest();
      if (error) {
        const failed = results?.find((r) => r.status === 'Error')?.migrationName;
        throw new Error(`Database migration ${failed ?? ''} failed: ${(error as Error).message ?? error}`, { cause: error });
      }
    },
    async ping() {
      await sql`select 1`.execute(db);
    },
    close: () => db.destroy(),
  };
}

/** pgvector is used when migration 0002 could add its `embedding vector` column. */
async function detectPgvector(db: Kysely<Database>): Promise<VectorSearchMethod> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from information_schema.columns
    where table_schema = current_schema() and table_name = 'task_embeddings' and column_name = 'embedding'`.execute(db);
  return rows[0]?.n ? 'pgvector' : 'js';
}
