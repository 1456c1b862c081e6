import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { precompile } from '../src/storage/precompiled-query.js';
import { TEST_DATABASES } from './helpers/databases.js';

interface Db {
  notes: { id: string; body: string | null; n: number };
}

for (const database of TEST_DATABASES) {
  describe(`precompiled queries (${database.name})`, () => {
    let created: { url: string; drop(): Promise<void> };
    let db: Kysely<Db>;
    before(async () => {
      created = await database.create();
      db = new Kysely<Db>({
        dialect: created.url.startsWith('sqlite:')
          ? new SqliteDialect({ database: new SQLite(created.url.slice('sqlite:'.length)) })
          : new PostgresDialect({ pool: new pg.Pool({ connectionString: created.url, max: 2 }) }),
      });
      await db.schema.createTable('notes').addColumn('id', 'text', (c) => c.primaryKey()).addColumn('body', 'text').addColumn('n', 'integer').execute();
    });
    after(async () => {
      await db.destroy();
      await created.drop();
    });

    test('runs with each call\'s values, on the database and inside a transaction', async () => {
      const insert = precompile(['id', 'body', 'n'], (row: Db['notes']) => db.insertInto('notes').values(row));
      const byN = precompile(['min', 'limit'], (a: { min: number; limit: number }) =>
        db.selectFrom('notes').select(['id', 'body']).where('n', '>=', a.min).where('body', 'is not', null).orderBy('n').limit(a.limit),
      );
      await insert(db, { id: 'a', body: 'first', n: 1 });
      await insert(db, { id: 'b', body: null, n: 2 });
      await db.transaction().execute(async (tx) => {
        await insert(tx, { id: 'c', body: 'third', n: 3 });
        await insert(tx, { id: 'd', body: 'fourth', n: 4 });
      });
      assert.deepEqual((await byN(db, { min: 2, limit: 5 })).rows, [
        { id: 'c', body: 'third' },
        { id: 'd', body: 'fourth' },
      ]);
      assert.deepEqual((await byN(db, { min: 0, limit: 1 })).rows, [{ id: 'a', body: 'first' }]);
    });

    test('refuses at once an argument that does not end up as a bound parameter', () => {
      assert.throws(
        () => precompile(['id', 'unused'], (a: { id: string; unused: string }) => db.selectFrom('notes').select('id').where('id', '=', a.id)),
        /"unused" is not a bound parameter/,
      );
    });
  });
}
