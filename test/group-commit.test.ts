import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { groupCommit } from '../src/storage/group-commit.js';

interface DB {
  items: { id: number; note: string };
}

describe('group commit (SQLite file)', () => {
  let dir: string;
  let file: string;
  let db: Kysely<DB>;
  let statements: string[];
  let transaction: ReturnType<typeof groupCommit<DB>>;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oab-group-'));
    file = path.join(dir, 'db.sqlite');
    const database = new SQLite(file);
    database.pragma('journal_mode = WAL');
    statements = [];
    db = new Kysely<DB>({ dialect: new SqliteDialect({ database }), log: (event) => void statements.push(event.query.sql) });
    await sql`create table items (id integer primary key, note text not null)`.execute(db);
    statements = [];
    transaction = groupCommit(db);
  });
  afterEach(async () => {
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const insert = (executor: Kysely<DB>, id: number, note = `n${id}`) => executor.insertInto('items').values({ id, note }).execute();
  /** What another connection (another process, after a crash) would find. */
  const committedIds = (): number[] => {
    const reader = new SQLite(file, { readonly: true });
    try {
      return (reader.prepare('select id from items order by id').all() as Array<{ id: number }>).map((r) => r.id);
    } finally {
      reader.close();
    }
  };

  test('a transaction alone runs as a plain BEGIN … COMMIT, and its executor is a transaction', async () => {
    assert.equal(await transaction(async (tx) => (await insert(tx, 1), tx.isTransaction)), true);
    assert.deepEqual(statements, ['begin', 'insert into "items" ("id", "note") values (?, ?)', 'commit']);
    assert.deepEqual(committedIds(), [1]);
  });

  test('transactions started in one turn of the event loop share one commit, and each settles only once it is committed', async () => {
    const seenAtResolve = new Map<number, number[]>();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        transaction(async (tx) => {
          await insert(tx, i + 1);
        }).then(() => seenAtResolve.set(i + 1, committedIds())),
      ),
    );
    assert.equal(statements.filter((s) => s === 'commit').length, 1);
    assert.equal(statements.filter((s) => s === 'savepoint grouped').length, 20);
    for (const [id, visible] of seenAtResolve) assert.ok(visible.includes(id), `row ${id} was not committed when its caller heard`);
    assert.equal(committedIds().length, 20);
  });

  test('a failing transaction is rolled back alone: it rejects with its own error and the rest of its group commits', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        transaction(async (tx) => {
          await insert(tx, i + 1);
          if (i === 4) throw new Error('work failed');
          if (i === 6) await insert(tx, 1); // primary-key clash with the first
          return i;
        }),
      ),
    );
    assert.equal(results[4]!.status, 'rejected');
    assert.equal((results[4] as PromiseRejectedResult).reason.message, 'work failed');
    assert.equal(results[6]!.status, 'rejected');
    assert.match(String((results[6] as PromiseRejectedResult).reason), /UNIQUE/);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled'],
    );
    assert.equal(statements.filter((s) => s === 'commit').length, 1, 'one group');
    assert.deepEqual(committedIds(), [1, 2, 3, 4, 6, 8]);
  });

  test('when the group cannot commit, every transaction in it rejects and none of its writes is stored', async () => {
    await transaction((tx) => insert(tx, 1));
    const group = Array.from({ length: 4 }, (_, i) =>
      transaction(async (tx) => {
        await insert(tx, i + 10);
        // Ends the shared transaction under the group's feet, as a fatal error would.
        if (i === 1) await sql`rollback`.execute(tx);
      }),
    );
    const results = await Promise.allSettled(group);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'rejected', 'rejected']);
    assert.deepEqual(committedIds(), [1]);
    // The next transaction starts cleanly.
    await transaction((tx) => insert(tx, 99));
    assert.deepEqual(committedIds(), [1, 99]);
  });
});
