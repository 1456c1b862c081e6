/**
 * Databases for one benchmark variant: a fresh SQLite file, or a fresh PostgreSQL
 * database `oab_bench_<random>` created next to BENCH_DATABASE_URL and dropped
 * (WITH (FORCE)) afterwards, also when the run fails or is interrupted.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { onCleanup } from './processes.js';

export interface BenchDatabase {
  kind: 'sqlite' | 'postgres';
  /** DATABASE_URL for the app, the admin CLI and the seeding. */
  url: string;
  /** Safe to print (no credentials). */
  label: string;
  drop(): Promise<void>;
}

export function sqliteDatabase(workDir: string, name: string): BenchDatabase {
  return { kind: 'sqlite', url: `sqlite:${path.join(workDir, `${name}.db`)}`, label: 'SQLite', drop: async () => {} };
}

export async function postgresDatabase(adminUrl: string): Promise<BenchDatabase> {
  const name = `oab_bench_${randomBytes(5).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE "${name}"`);
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  };
  onCleanup(drop);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { kind: 'postgres', url: url.toString(), label: 'PostgreSQL', drop };
}
