import type { Insertable, Kysely, Selectable } from 'kysely';
import { toPage } from './page.js';
import { precompiler, type RunCompiled } from './precompiled-query.js';
import type { Database, MessagesTable } from './schema.js';
import type { HistoryEntry, Message, MessageRepository, NewMessage } from './storage.js';

const toMessage = (r: Selectable<MessagesTable>): Message => ({
  id: r.id,
  conversationId: r.conversation_id!, // read by conversation, so never null here
  seq: Number(r.seq),
  role: r.role,
  content: r.content,
  tokens: r.tokens,
  status: r.status,
  toolCalls: r.tool_calls === null ? null : JSON.parse(r.tool_calls),
  toolCallId: r.tool_call_id,
  createdAt: r.created_at,
});

/** What history reads of a message (history.ts), by conversation or by response (item-repository.ts). */
export const HISTORY_COLUMNS = ['seq', 'role', 'content', 'tokens', 'tool_calls', 'tool_call_id'] as const;

export const toHistoryEntry = (r: HistoryRow): HistoryEntry => ({
  seq: Number(r.seq),
  role: r.role,
  content: r.content,
  tokens: r.tokens,
  toolCalls: r.tool_calls === null ? null : JSON.parse(r.tool_calls),
  toolCallId: r.tool_call_id,
});

type HistoryRow = Pick<Selectable<MessagesTable>, (typeof HISTORY_COLUMNS)[number]>;

/** The queries every chat turn runs, compiled once per database. */
export function messageQueries(db: Kysely<Database>, run?: RunCompiled) {
  const compile = precompiler(run);
  return {
    append: compile(
      ['id', 'conversation_id', 'role', 'content', 'tokens', 'status', 'tool_calls', 'tool_call_id', 'created_at'],
      (row: Required<Omit<Insertable<MessagesTable>, 'seq' | 'response_id' | 'item_part' | 'item_details'>>) => db.insertInto('messages').values(row).returning('seq'),
    ),
    newerThan: compile(['conversationId', 'afterSeq', 'limit'], (a: { conversationId: string; afterSeq: number; limit: number }) =>
      db
        .selectFrom('messages')
        .select(HISTORY_COLUMNS)
        .where('conversation_id', '=', a.conversationId)
        .where('seq', '>', a.afterSeq)
        .orderBy('seq', 'asc')
        .limit(a.limit),
    ),
  };
}

type MessageQueries = ReturnType<typeof messageQueries>;

const toRow = (m: NewMessage) => ({
  id: m.id,
  conversation_id: m.conversationId,
  role: m.role,
  content: m.content,
  tokens: m.tokens,
  status: m.status,
  tool_calls: m.toolCalls === null ? null : JSON.stringify(m.toolCalls),
  tool_call_id: m.toolCallId,
  created_at: m.createdAt,
});

export function messageRepository(db: Kysely<Database>, queries: MessageQueries): MessageRepository {
  return {
    async append(m) {
      const { rows } = await queries.append(db, toRow(m));
      return { ...m, seq: Number(rows[0]!.seq) };
    },

    async appendIfAbsent(m) {
      // Rare (settling a lost stream): not precompiled. ON CONFLICT DO NOTHING is the same on both databases.
      const row = await db
        .insertInto('messages')
        .values(toRow(m))
        .onConflict((c) => c.column('id').doNothing())
        .returning('seq')
        .executeTakeFirst();
      return row && { ...m, seq: Number(row.seq) };
    },

    async list(conversationId, { limit, cursor }) {
      let query = db.selectFrom('messages').selectAll().where('conversation_id', '=', conversationId);
      const after = cursor === undefined ? undefined : Number(cursor);
      if (after !== undefined && Number.isSafeInteger(after)) query = query.where('seq', '>', after);
      const rows = await query.orderBy('seq', 'asc').limit(limit + 1).execute();
      return toPage(rows, limit, toMessage, (m) => String(m.seq));
    },

    async newestFirst(conversationId, { limit, beforeSeq }) {
      let query = db
        .selectFrom('messages')
        .select(HISTORY_COLUMNS)
        .where('conversation_id', '=', conversationId);
      if (beforeSeq !== undefined) query = query.where('seq', '<', beforeSeq);
      const rows = await query.orderBy('seq', 'desc').limit(limit).execute();
      return rows.map(toHistoryEntry);
    },

    async newerThan(conversationId, { afterSeq, limit }) {
      const { rows } = await queries.newerThan(db, { conversationId, afterSeq, limit });
      return rows.map(toHistoryEntry);
    },
  };
}
