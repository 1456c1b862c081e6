import type { Kysely, Selectable } from 'kysely';
import { HISTORY_COLUMNS, toHistoryEntry } from './message-repository.js';
import type { Database, MessagesTable } from './schema.js';
import type { ItemPart, ItemRepository, ItemRow, ListOrder } from './storage.js';

const json = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));

const toItemRow = (r: Selectable<MessagesTable>): ItemRow => ({
  id: r.id,
  conversationId: r.conversation_id,
  responseId: r.response_id,
  part: r.item_part,
  seq: Number(r.seq),
  role: r.role,
  content: r.content,
  tokens: r.tokens,
  status: r.status,
  toolCalls: json(r.tool_calls),
  toolCallId: r.tool_call_id,
  details: json(r.item_details),
  createdAt: r.created_at,
});

/**
 * The Responses API's items over the messages table: the same rows /chat reads and writes,
 * with the response they belong to. Reads are by (conversation_id, seq) or (response_id,
 * seq), both indexed.
 */
export function itemRepository(db: Kysely<Database>): ItemRepository {
  const rows = () => db.selectFrom('messages').selectAll();
  /** `fromSeq` on, inclusive, in `order`. */
  const paged = (query: ReturnType<typeof rows>, { order, fromSeq, limit }: { order: ListOrder; fromSeq?: number | undefined; limit: number }) => {
    const from = fromSeq === undefined ? query : query.where('seq', order === 'asc' ? '>=' : '<=', fromSeq);
    return from.orderBy('seq', order).limit(limit);
  };

  return {
    async append(items) {
      const stored: ItemRow[] = [];
      for (const item of items) {
        const { seq } = await db
          .insertInto('messages')
          .values({
            id: item.id,
            conversation_id: item.conversationId,
            response_id: item.responseId,
            item_part: item.part,
            role: item.role,
            content: item.content,
            tokens: item.tokens,
            status: item.status,
            tool_calls: item.toolCalls === null ? null : JSON.stringify(item.toolCalls),
            tool_call_id: item.toolCallId,
            item_details: item.details === null ? null : JSON.stringify(item.details),
            created_at: item.createdAt,
          })
          .returning('seq')
          .executeTakeFirstOrThrow();
        stored.push({ ...item, seq: Number(seq) });
      }
      return stored;
    },

    async find(userId, rowId) {
      const row = await db
        .selectFrom('messages as m')
        .leftJoin('conversations as c', 'c.id', 'm.conversation_id')
        .leftJoin('responses as r', 'r.id', 'm.response_id')
        .selectAll('m')
        .where('m.id', '=', rowId)
        .where((eb) => eb.or([eb('c.user_id', '=', userId), eb.and([eb('m.conversation_id', 'is', null), eb('r.user_id', '=', userId)])]))
        .executeTakeFirst();
      return row && toItemRow(row);
    },

    async listConversation(conversationId, options) {
      const found = await paged(rows().where('conversation_id', '=', conversationId), options).execute();
      return found.map(toItemRow);
    },

    async listResponse(responseId: string, part: ItemPart, options) {
      const found = await paged(rows().where('response_id', '=', responseId).where('item_part', '=', part), options).execute();
      return found.map(toItemRow);
    },

    async newestOfResponses(responseIds, { limit, beforeSeq }) {
      if (!responseIds.length) return [];
      let query = db.selectFrom('messages').select(HISTORY_COLUMNS).where('response_id', 'in', responseIds);
      if (beforeSeq !== undefined) query = query.where('seq', '<', beforeSeq);
      return (await query.orderBy('seq', 'desc').limit(limit).execute()).map(toHistoryEntry);
    },

    async rewrite(rowId, changes) {
      await db
        .updateTable('messages')
        .set({
          ...(changes.content !== undefined && { content: changes.content }),
          ...(changes.toolCalls !== undefined && { tool_calls: changes.toolCalls === null ? null : JSON.stringify(changes.toolCalls) }),
        })
        .where('id', '=', rowId)
        .execute();
    },

    async delete(rowId) {
      const result = await db.deleteFrom('messages').where('id', '=', rowId).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
  };
}
