import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database, ResponsesTable } from './schema.js';
import type { ResponseLink, ResponseRecord, ResponseRepository, ResponseStatus } from './storage.js';

const json = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));
const text = (value: unknown): string | null => (value === null || value === undefined ? null : JSON.stringify(value));

const toRecord = (r: Selectable<ResponsesTable>): ResponseRecord => ({
  id: r.id,
  userId: r.user_id,
  conversationId: r.conversation_id,
  previousResponseId: r.previous_response_id,
  status: r.status as ResponseStatus,
  background: Number(r.background) === 1,
  settings: JSON.parse(r.settings) as Record<string, unknown>,
  output: JSON.parse(r.output) as unknown[],
  usage: json(r.usage),
  error: json(r.error),
  incompleteDetails: json(r.incomplete_details),
  streamId: r.stream_id,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  completedAt: r.completed_at,
});

/** Stored responses of the Responses API (migration 0004); their items are message rows (item-repository.ts). */
export function responseRepository(db: Kysely<Database>): ResponseRepository {
  return {
    async create(r) {
      await db
        .insertInto('responses')
        .values({
          id: r.id,
          user_id: r.userId,
          conversation_id: r.conversationId,
          previous_response_id: r.previousResponseId,
          status: r.status,
          background: r.background ? 1 : 0,
          settings: JSON.stringify(r.settings),
          output: JSON.stringify(r.output),
          usage: text(r.usage),
          error: text(r.error),
          incomplete_details: text(r.incompleteDetails),
          stream_id: r.streamId,
          created_at: r.createdAt,
          updated_at: r.updatedAt,
          completed_at: r.completedAt,
        })
        .execute();
    },

    async get(userId, id) {
      const row = await db.selectFrom('responses').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
      return row && toRecord(row);
    },

    async settle(id, outcome, whileStatus) {
      let query = db
        .updateTable('responses')
        .set({
          status: outcome.status,
          updated_at: outcome.updatedAt,
          ...(outcome.output !== undefined && { output: JSON.stringify(outcome.output) }),
          ...(outcome.usage !== undefined && { usage: text(outcome.usage) }),
          ...(outcome.error !== undefined && { error: text(outcome.error) }),
          ...(outcome.incompleteDetails !== undefined && { incomplete_details: text(outcome.incompleteDetails) }),
          ...(outcome.completedAt !== undefined && { completed_at: outcome.completedAt }),
        })
        .where('id', '=', id);
      if (whileStatus) query = query.where('status', 'in', whileStatus);
      const result = await query.executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    async setStreamId(id, streamId) {
      await db.updateTable('responses').set({ stream_id: streamId }).where('id', '=', id).execute();
    },

    async delete(userId, id) {
      // A conversation's items outlive the response that added them; the rest go with it (cascade).
      const owned = await db.selectFrom('responses').select('id').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
      if (!owned) return false;
      await db.updateTable('messages').set({ response_id: null, item_part: null }).where('response_id', '=', id).where('conversation_id', 'is not', null).execute();
      const result = await db.deleteFrom('responses').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },

    async chain(userId, id, limit) {
      const { rows } = await sql<{ id: string; previous_response_id: string | null }>`
        with recursive chain (id, previous_response_id, depth) as (
          select id, previous_response_id, 1 from responses where id = ${id} and user_id = ${userId}
          union all
          -- By primary key only: a user filter here makes SQLite scan the user's responses at every step.
          -- Links are the user's own: a response may only continue one of its user's (checked when made).
          select r.id, r.previous_response_id, chain.depth + 1 from chain
            join responses r on r.id = chain.previous_response_id
            where chain.depth < ${limit}
        )
        select id, previous_response_id from chain order by depth`.execute(db);
      return rows.map((r): ResponseLink => ({ id: r.id, previousResponseId: r.previous_response_id }));
    },
  };
}
