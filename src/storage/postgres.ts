import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { kyselyStorage } from './kysely-storage.js';
import type { Database } from './schema.js';
import type { Storage } from './storage.js';

const TIMESTAMPTZ_OID = 1184;
const INT8_OID = 20;

/** Per-pool type parsers: timestamps come back as ISO strings, bigints as numbers. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === TIMESTAMPTZ_OID) return (value: string) => new Date(value).toISOString();
    if (oid === INT8_OID) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

interface PostgresOptions {
  /** Connections per instance. Default: 10 (DATABASE_POOL_SIZE). */
  poolSize?: number;
}

/** PostgreSQL, for running many instances on one database. */
export function openPostgres(connectionString: string, options: PostgresOptions = {}): Storage {
  const pool = new pg.Pool({
    connectionString,
    max: options.poolSize ?? 10,
    types,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  // A client losing its connection while checked out (pg_terminate_backend, a server restart,
  // a network cut) emits 'error' on the client itself: the pool listens only while it is idle,
  // so without this listener the process would crash. Its query in flight fails on its own, and
  // on release the pool discards the client, since it is no longer queryable.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return kyselyStorage('postgres', db);
}
