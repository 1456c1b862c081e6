import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { kyselyStorage } from './kysely-storage.js';
import type { Database } from './schema.js';
import type { Storage } from './storage.js';

/** How long a writer waits for another process's lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

/**
 * SQLite, the embedded default: one file, created with its directory on first use.
 * WAL lets readers run beside the writer (and the admin CLI beside the server);
 * synchronous=NORMAL in WAL mode keeps every commit across a process crash and
 * never corrupts the file (a power cut may roll back the last commits).
 */
export function openSqlite(filename: string): Storage {
  if (filename !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(filename)), { recursive: true });
  const database = new SQLite(filename, { timeout: BUSY_TIMEOUT_MS });
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  database.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  return kyselyStorage('sqlite', db);
}
