import { Migrator, sql, type Kysely } from 'kysely';
import { conversationRepository } from './conversation-repository.js';
import { messageRepository } from './message-repository.js';
import { migrations } from './migrations/index.js';
import type { Database } from './schema.js';
import type { SqlDialectName, Storage } from './storage.js';
import { taskRepository } from './task-repository.js';
import { userRepository } from './user-repository.js';

type Repositories = Omit<Storage, 'transaction' | 'close' | 'ping' | 'migrate'>;

function repositories(dialect: SqlDialectName, db: Kysely<Database>): Repositories {
  return {
    dialect,
    users: userRepository(db),
    conversations: conversationRepository(db),
    messages: messageRepository(db),
    tasks: taskRepository(db),
  };
}

/** The Storage both databases share: the same repositories over a dialect-specific Kysely. */
export function kyselyStorage(dialect: SqlDialectName, db: Kysely<Database>): Storage {
  return {
    ...repositories(dialect, db),
    transaction: (work) => db.transaction().execute((tx) => work(repositories(dialect, tx))),
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
