import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { LRUCache } from 'lru-cache';
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
  const statements = new LRUCache<string, SQLite.Statement>({ max: STATEMENT_CACHE_SIZE });
  return {
    close: () => database.close(),
    prepare(text) {
      let statement = statements.get(text);
      if (!statement) {
        statement = database.prepare(text);
        statements.set(text, statement);
      }
      return statement;
    },
  };
}

/**
 * Runs the hot compiled queries on the connection itself, as Kysely's SQLite driver
 * would (same statements, same result shape), without its per-query machinery: the
 * connection mutex, plugins and promise chain cost more than the statement itself.
 * Measured (`npm run bench:builds`, instant fake, c=32, 5 rounds): without it a `/chat`
 * turn costs 1.33× the CPU on a new conversation (322 against 243 µs) and 1.29× on a
 * 1,000-message one (696 against 538 µs); with a realistic upstream the turn is bound by
 * its latency either way.
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
  const database = openDatabaseFile(filename);
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

/** The database file could not be created or opened: start-up reports it in one line and stops. */
class SqliteOpenError extends Error {
  constructor(filename: string, reason: string, options?: { cause?: unknown }) {
    super(`cannot open the SQLite database ${filename}: ${reason}`, options);
    this.name = 'SqliteOpenError';
  }
}

/**
 * Creates the file's directory if needed, opens it and sets the connection up; every failure
 * becomes one SqliteOpenError naming the path and the reason. The first statement is the first
 * read of the file, so a file that is not a database fails here, not in the first request.
 */
function openDatabaseFile(filename: string): SQLite.Database {
  if (filename !== ':memory:') makeDirectory(path.dirname(path.resolve(filename)), filename);
  let database: SQLite.Database | undefined;
  try {
    database = new SQLite(filename, { timeout: BUSY_TIMEOUT_MS });
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('foreign_keys = ON');
    database.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    return database;
  } catch (error) {
    database?.close();
    throw new SqliteOpenError(filename, reasonOf(error), { cause: error });
  }
}

/**
 * `mkdir -p`, one level at a time. Node's own `mkdirSync(dir, { recursive: true })` loops forever
 * when mkdir answers ENOENT for a directory whose parent exists (any path under /proc), which hung
 * start-up; here a level that still cannot be made once its parent exists is an error.
 */
function makeDirectory(dir: string, filename: string): void {
  try {
    fs.mkdirSync(dir);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && isDirectory(dir)) return;
    const parent = path.dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw new SqliteOpenError(filename, `cannot create the directory ${dir}: ${reasonOf(error)}`, { cause: error });
  }
  makeDirectory(path.dirname(dir), filename);
  try {
    fs.mkdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST' && isDirectory(dir)) return; // made meanwhile by another process
    throw new SqliteOpenError(filename, `cannot create the directory ${dir}: ${reasonOf(error)}`, { cause: error });
  }
}

const isDirectory = (p: string): boolean => fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;

/** "ENOTDIR: not a directory, mkdir '/a/b'" → "not a directory (ENOTDIR)"; SQLite's "file is not a database (SQLITE_NOTADB)". */
function reasonOf(error: unknown): string {
  const { code, message } = error as { code?: unknown; message?: unknown };
  const text = String(message ?? error).split('\n')[0]!;
  if (typeof code !== 'string') return text;
  const words = text.startsWith(`${code}: `) ? text.slice(code.length + 2).replace(/, \w+ '.*'$/, '') : text;
  return `${words} (${code})`;
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
