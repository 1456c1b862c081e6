import type { Kysely, Selectable } from 'kysely';
import { newestFirst } from './page.js';
import { precompiler, type RunCompiled } from './precompiled-query.js';
import type { ConversationsTable, Database } from './schema.js';
import type { Conversation, ConversationRepository } from './storage.js';

const toConversation = (r: Selectable<ConversationsTable>): Conversation => ({
  id: r.id,
  userId: r.user_id,
  title: r.title,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** The queries every chat turn runs, compiled once per database. */
export function conversationQueries(db: Kysely<Database>, run?: RunCompiled) {
  const compile = precompiler(run);
  return {
    create: compile(['id', 'user_id', 'title', 'created_at', 'updated_at'], (row: Omit<Selectable<ConversationsTable>, 'metadata'>) =>
      db.insertInto('conversations').values(row),
    ),
    get: compile(['userId', 'id'], (a: { userId: string; id: string }) =>
      db.selectFrom('conversations').selectAll().where('id', '=', a.id).where('user_id', '=', a.userId),
    ),
    touch: compile(['id', 'updatedAt'], (a: { id: string; updatedAt: string }) =>
      db.updateTable('conversations').set({ updated_at: a.updatedAt }).where('id', '=', a.id),
    ),
    touchAndTitle: compile(['id', 'updatedAt', 'title'], (a: { id: string; updatedAt: string; title: string }) =>
      db
        .updateTable('conversations')
        .set((eb) => ({ updated_at: a.updatedAt, title: eb.fn.coalesce('title', eb.val(a.title)) }))
        .where('id', '=', a.id),
    ),
  };
}

type ConversationQueries = ReturnType<typeof conversationQueries>;

export function conversationRepository(db: Kysely<Database>, queries: ConversationQueries): ConversationRepository {
  return {
    async create(c) {
      await queries.create(db, { id: c.id, user_id: c.userId, title: c.title, created_at: c.createdAt, updated_at: c.updatedAt });
    },

    async get(userId, id) {
      const row = (await queries.get(db, { userId, id })).rows[0];
      return row && toConversation(row);
    },

    async list(userId, page) {
      return newestFirst(db.selectFrom('conversations').selectAll().where('user_id', '=', userId), page, toConversation);
    },

    async update(userId, id, changes) {
      const result = await db
        .updateTable('conversations')
        .set({ updated_at: changes.updatedAt, ...(changes.title !== undefined && { title: changes.title }) })
        .where('id', '=', id)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return undefined;
      return this.get(userId, id);
    },

    async touch(id, updatedAt, titleIfUnset) {
      const result =
        titleIfUnset === undefined
          ? await queries.touch(db, { id, updatedAt })
          : await queries.touchAndTitle(db, { id, updatedAt, title: titleIfUnset });
      return Number(result.numAffectedRows ?? 0) > 0;
    },

    async delete(userId, id) {
      const result = await db.deleteFrom('conversations').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    async metadata(userId, id) {
      const row = await db.selectFrom('conversations').select('metadata').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
      if (!row) return undefined;
      return row.metadata === null ? null : (JSON.parse(row.metadata) as Record<string, string>);
    },

    async setMetadata(userId, id, metadata, updatedAt) {
      const result = await db
        .updateTable('conversations')
        .set({ metadata: metadata === null ? null : JSON.stringify(metadata), updated_at: updatedAt })
        .where('id', '=', id)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
  };
}
