import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

/**
 * The databases every storage-facing test runs against: SQLite always, PostgreSQL
 * when TEST_DATABASE_URL names a server (CI always sets it). Each test gets a fresh
 * database: a new SQLite file, or a new PostgreSQL database dropped afterwards.
 */
export interface TestDatabase {
  name: 'sqlite' | 'postgres';
  /** A DATABASE_URL for a fresh, empty database. */
  create(): Promise<{ url: string; drop(): Promise<void> }>;
}

const sqlite: TestDatabase = {
  name: 'sqlite',
  async create() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oab-test-'));
    return { url: `sqlite:${path.join(dir, 'app.db')}`, drop: async () => fs.rmSync(dir, { recursive: true, force: true }) };
  },
};

function postgres(adminUrl: string): TestDatabase {
  return {
    name: 'postgres',
    async create() {
      const name = `oab_test_${process.pid}_${randomBytes(4).toString('hex')}`;
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      return {
        url: url.toString(),
        async drop() {
          const client = new pg.Client({ connectionString: adminUrl });
          await client.connect();
          try {
            await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
          } finally {
            await client.end();
          }
        },
      };
    },
  };
}

export const TEST_DATABASES: TestDatabase[] = [
  sqlite,
  ...(process.env.TEST_DATABASE_URL ? [postgres(process.env.TEST_DATABASE_URL)] : []),
];

export const SQLITE = sqlite;

/** A REDIS_KEY_PREFIX of its own, so tests sharing the Redis server never see each other's keys. */
export const redisKeyPrefix = (): string => `oab-test:${process.pid}:${randomBytes(4).toString('hex')}:`;
