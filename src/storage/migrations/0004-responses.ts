import { sql, type Kysely, type Migration } from 'kysely';
import type { SqlDialectName } from '../storage.js';

/**
 * The Responses API (/v1/responses, /v1/conversations) on the one store:
 *
 * - `responses`: one row per stored response, with the request's settings, its output and
 *   usage as JSON, and the ids that chain it (previous_response_id, conversation).
 * - `messages` rows are the items: a conversation's items are its messages (what /chat
 *   stores), and a response's input and output items are messages tagged with
 *   `response_id` and `item_part`. A response outside any conversation keeps its items in
 *   rows without a conversation, so `conversation_id` becomes nullable; such rows go with
 *   their response (cascade). `item_details` holds what an item has beyond a chat message
 *   (a `developer` role).
 * - `conversations.metadata`: the Conversations API's metadata, as JSON.
 *
 * SQLite cannot drop a NOT NULL, so its messages table is rebuilt, seq values kept (and
 * with them its AUTOINCREMENT counter).
 */
export function responsesSchema(dialect: SqlDialectName): Migration {
  const time = dialect === 'postgres' ? sql`timestamptz` : sql`text`;
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('responses')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('conversation_id', 'text', (c) => c.references('conversations.id').onDelete('set null'))
        // No foreign key: a deleted previous response leaves the chain ending here.
        .addColumn('previous_response_id', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('background', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('settings', 'text', (c) => c.notNull())
        .addColumn('output', 'text', (c) => c.notNull())
        .addColumn('usage', 'text')
        .addColumn('error', 'text')
        .addColumn('incomplete_details', 'text')
        .addColumn('stream_id', 'text')
        .addColumn('created_at', time, (c) => c.notNull())
        .addColumn('updated_at', time, (c) => c.notNull())
        .addColumn('completed_at', time)
        .execute();
      await db.schema.createIndex('responses_user_id_id').on('responses').columns(['user_id', 'id']).execute();

      await db.schema.alterTable('conversations').addColumn('metadata', 'text').execute();

      if (dialect === 'postgres') {
        await sql`alter table messages alter column conversation_id drop not null`.execute(db);
        await sql`alter table messages add column response_id text references responses (id) on delete cascade`.execute(db);
        await sql`alter table messages add column item_part text`.execute(db);
        await sql`alter table messages add column item_details text`.execute(db);
      } else {
        await sql`
          create table messages_new (
            seq integer primary key autoincrement,
            id text not null unique,
            conversation_id text references conversations (id) on delete cascade,
            role text not null,
            content text,
            tokens integer not null,
            status text not null,
            tool_calls text,
            tool_call_id text,
            created_at text not null,
            response_id text references responses (id) on delete cascade,
            item_part text,
            item_details text
          )`.execute(db);
        await sql`
          insert into messages_new (seq, id, conversation_id, role, content, tokens, status, tool_calls, tool_call_id, created_at)
          select seq, id, conversation_id, role, content, tokens, status, tool_calls, tool_call_id, created_at from messages`.execute(db);
        await sql`drop table messages`.execute(db);
        await sql`alter table messages_new rename to messages`.execute(db);
        await sql`create index messages_conversation_id_seq on messages (conversation_id, seq)`.execute(db);
      }
      await sql`create index messages_response_id_seq on messages (response_id, seq) where response_id is not null`.execute(db);
    },
  };
}
