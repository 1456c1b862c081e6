import { sql, type Kysely, type Migration } from 'kysely';
import type { SqlDialectName } from '../storage.js';

/**
 * A revision counter per user for task embeddings, kept by triggers so that no writer
 * (the app, the worker, admin reindex, a cascade from deleting a task) can forget it.
 * Every insert, change or delete of a user's embedding bumps the user's counter, and
 * inserted or changed rows carry the value they bumped it to. A reader holding a copy
 * of a user's vectors (the in-memory search index) checks the counter with one primary
 * key lookup and, when it moved, reads only the rows with a newer revision.
 *
 * The counter row is updated in the writer's transaction, so writers of one user
 * serialise on it (PostgreSQL row lock; SQLite has one writer): revisions are
 * committed in order, and a reader that sees revision R sees every row up to R.
 */
export function embeddingRevisions(dialect: SqlDialectName): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('embedding_revisions')
        .addColumn('user_id', 'text', (c) => c.primaryKey())
        .addColumn('revision', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.alterTable('task_embeddings').addColumn('revision', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.createIndex('task_embeddings_user_revision').on('task_embeddings').columns(['user_id', 'revision', 'task_id']).execute();
      if (dialect === 'postgres') await postgresTriggers(db);
      else await sqliteTriggers(db);
    },
  };
}

/** Columns whose change alters what search sees; `revision` itself is not one of them. */
const WATCHED = sql.raw('user_id, model, dimensions, content_hash, vector');

async function sqliteTriggers(db: Kysely<unknown>): Promise<void> {
  // SQLite triggers cannot assign NEW, so the row is stamped after the bump. No OR IGNORE:
  // inside a trigger, the conflict policy of the statement that fired it (an upsert) wins.
  const start = (user: string) => sql.raw(`
    insert into embedding_revisions (user_id, revision) select ${user}, 0
      where not exists (select 1 from embedding_revisions where user_id = ${user});`);
  const bumpAndStamp = sql`
    ${start('new.user_id')}
    update embedding_revisions set revision = revision + 1 where user_id = new.user_id;
    update task_embeddings set revision = (select revision from embedding_revisions where user_id = new.user_id)
      where task_id = new.task_id;`;
  await sql`create trigger task_embeddings_revision_insert after insert on task_embeddings begin ${bumpAndStamp} end`.execute(db);
  await sql`create trigger task_embeddings_revision_update after update of ${WATCHED} on task_embeddings begin ${bumpAndStamp} end`.execute(db);
  await sql`
    create trigger task_embeddings_revision_delete after delete on task_embeddings begin
      ${start('old.user_id')}
      update embedding_revisions set revision = revision + 1 where user_id = old.user_id;
    end`.execute(db);
}

async function postgresTriggers(db: Kysely<unknown>): Promise<void> {
  await sql`
    create function task_embeddings_bump_revision() returns trigger language plpgsql as $$
    begin
      if tg_op = 'DELETE' then
        insert into embedding_revisions as r (user_id, revision) values (old.user_id, 1)
          on conflict (user_id) do update set revision = r.revision + 1;
        return old;
      end if;
      insert into embedding_revisions as r (user_id, revision) values (new.user_id, 1)
        on conflict (user_id) do update set revision = r.revision + 1
        returning r.revision into new.revision;
      return new;
    end
    $$`.execute(db);
  await sql`
    create trigger task_embeddings_revision_write before insert or update of ${WATCHED} on task_embeddings
    for each row execute function task_embeddings_bump_revision()`.execute(db);
  await sql`
    create trigger task_embeddings_revision_delete after delete on task_embeddings
    for each row execute function task_embeddings_bump_revision()`.execute(db);
}
