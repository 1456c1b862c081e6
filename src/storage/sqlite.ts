import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import {
  Kysely,
  SqliteAdapter,
  SqliteDialect,
  sql,
  type DialectAdapter,
  type SqliteDatabase,
} from 'kysely';
import { kyselyStorage } from './kysely-storage.js';
import { BACKSTOP_CHECKPOINT_PAGES, startCheckpointer } from './sqlite-checkpointer.js';
import type { Database } from './schema.js';
import type { RunCompiled } from './precompiled-query.js';
import type { Storage, VectorSearchMethod } from './storage.js';

/** How long a writer waits for another process's lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

/**
 * Kysely assumes one process per SQLite file: it takes no migration lock and runs
 * SQLite migrations on its single connection outside any transaction. Several
 * processes (two instances, or the admin CLI beside the server) may migrate at once,
 * so the lock is `BEGIN IMMEDIATE` on that connection: it takes SQLite's write lock
 * before the migrator reads which migrations ran, the others wait for it (busy
 * timeout) and then find them applied. The migrations themselves run inside it.
 */
class MigrationLockingSqliteAdapter extends SqliteAdapter {
  override async acquireMigrationLock(db: Kysely<any>): Promise<void> {
    await sql`begin immediate`.execute(db);
  }

  override async releaseMigrationLock(db: Kysely<any>): Promise<void> {
    await sql`commit`.execute(db);
  }
}

class LockingSqliteDialect extends SqliteDialect {
  override createAdapter(): DialectAdapter {
    return new MigrationLockingSqliteAdapter();
  }
}

/** Prepared statements kept per SQL text: Kysely would otherwise prepare every query anew. */
const STATEMENT_CACHE_SIZE = 256;

function withStatementCache(database: SQLite.Database): { close(): void; prepare(text: string): SQLite.Statement } {
  const statements = new Map<string, SQLite.Statement>();
  return {
    close: () => database.close(),
    prepare(text) {
      let statement = statements.get(text);
      if (!statement) {
        statement = database.prepare(text);
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!);
        statements.set(text, statement);
      }
      return statement;
    },
  };
}

/**
 * Runs the hot compiled queries on the connection itself, as Kysely's SQLite driver
 * would (same statements, same result shape), without its per-query machinery: the
 * connection mutex, plugins and promise chain cost more than the statement itself
 * (measured: ~16% of the bytes allocated per `/chat` request went to them).
 * Only when Kysely would run it at once: inside the transaction that holds the
 * connection (`isTransaction`), or outside any transaction; while a transaction is
 * open and this is not it, the query goes through Kysely, which waits for it.
 */
function directRunner(database: SQLite.Database, prepare: (text: string) => SQLite.Statement): RunCompiled {
  return (executor, query) => {
    if (!executor.isTransaction && database.inTransaction) return executor.executeQuery(query);
    const statement = prepare(query.sql);
    const parameters = query.parameters as unknown[];
    if (statement.reader) return Promise.resolve({ rows: statement.all(parameters) as never[] });
    const { changes, lastInsertRowid } = statement.run(parameters);
    return Promise.resolve({ rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid) });
  };
}

/**
 * SQLite, the embedded default: one file, created with its directory on first use.
 * WAL lets readers run beside the writer (and the admin CLI beside the server);
 * synchronous=NORMAL in WAL mode keeps every commit across a process crash and
 * never corrupts the file (a power cut may roll back the last commits).
 */
export function openSqlite(
  filename: string,
  options: {
    /** Default: true; false scores vectors in JS (for tests and comparisons). */
    sqliteVec?: boolean;
    /** Default: true; false leaves WAL checkpoints to the connection that commits (see sqlite-checkpointer). */
    backgroundCheckpoints?: boolean;
  } = {},
): Storage {
  if (filename !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(filename)), { recursive: true });
  const database = new SQLite(filename, { timeout: BUSY_TIMEOUT_MS });
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  database.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  const connection = withStatementCache(database);
  const db = new Kysely<Database>({ dialect: new LockingSqliteDialect({ database: connection satisfies SqliteDatabase }) });
  const storage = kyselyStorage('sqlite', db, {
    vectorSearch: options.sqliteVec === false ? 'js' : loadSqliteVec(database),
    groupCommit: true,
    run: directRunner(database, (text) => connection.prepare(text)),
  });
  if (filename === ':memory:' || options.backgroundCheckpoints === false) return storage;

  database.pragma(`wal_autocheckpoint = ${BACKSTOP_CHECKPOINT_PAGES}`);
  const checkpointer = startCheckpointer({
    filename,
    busyTimeoutMs: BUSY_TIMEOUT_MS,
    onFailure: () => {
      if (database.open) database.pragma(`wal_autocheckpoint = ${DEFAULT_CHECKPOINT_PAGES}`);
    },
  });
  return {
    ...storage,
    async close() {
      await checkpointer.stop();
      await storage.close();
    },
  };
}

/** SQLite's own automatic checkpoint threshold, used again if the checkpoint thread fails. */
const DEFAULT_CHECKPOINT_PAGES = 1000;

/**
 * sqlite-vec (its compiled extension ships in a per-platform npm package) gives exact
 * cosine distance in SQL. Where it cannot load (no build for the platform), vectors
 * are scored in JS instead: slower, same results.
 */
function loadSqliteVec(database: SQLite.Database): VectorSearchMethod {
  try {
    sqliteVec.load(database);
    return 'sqlite-vec';
  } catch {
    return 'js';
  }
}
