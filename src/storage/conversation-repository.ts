import type { Kysely, Selectable } from 'kysely';
import { toPage } from './page.js';
import type { ConversationsTable, Database } from './schema.js';
import type { Conversation, ConversationRepository } from './storage.js';

const toConversation = (r: Selectable<ConversationsTable>): Conversation => ({
  id: r.id,
  userId: r.user_id,
  title: r.title,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export function conversationRepository(db: Kysely<Database>): ConversationRepository {
  return {
    async create(c) {
      await db
        .insertInto('conversations')
        .values({ id: c.id, user_id: c.userId, title: c.title, created_at: c.createdAt, updated_at: c.updatedAt })
        .execute();
    },

    async get(userId, id) {
      const row = await db
        .selectFrom('conversations')
        .selectAll()
        .where('id', '=', id)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      return row && toConversation(row);
    },

    async list(userId, { limit, cursor }) {
      // Ids are time-sortable (UUIDv7), so "newest first" is id order and the cursor is the last id.
      let query = db.selectFrom('conversations').selectAll().where('user_id', '=', userId);
      if (cursor) query = query.where('id', '<', cursor);
      const rows = await query.orderBy('id', 'desc').limit(limit + 1).execute();
      return toPage(rows, limit, toConversation, (c) => c.id);
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
      await db
        .updateTable('conversations')
        .set((eb) => ({
          updated_at: updatedAt,
          ...(titleIfUnset !== undefined && { title: eb.fn.coalesce('title', eb.val(titleIfUnset)) }),
        }))
        .where('id', '=', id)
        .execute();
    },

    async delete(userId, id) {
      const result = await db.deleteFrom('conversations').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
  };
}
