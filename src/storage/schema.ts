import type { Generated } from 'kysely';

/**
 * Table shapes as Kysely sees them. Times are ISO-8601 strings on both
 * databases (TEXT on SQLite, timestamptz parsed back to ISO on PostgreSQL).
 */
export interface Database {
  users: UsersTable;
  api_keys: ApiKeysTable;
  conversations: ConversationsTable;
  messages: MessagesTable;
  tasks: TasksTable;
  task_embeddings: TaskEmbeddingsTable;
  embedding_queue: EmbeddingQueueTable;
  embedding_revisions: EmbeddingRevisionsTable;
  usage_daily: UsageDailyTable;
  responses: ResponsesTable;
}

interface UsersTable {
  id: string;
  name: string;
  created_at: string;
  /** The `sub` of a user signed in with a JWT (AUTH_JWKS_URL); null for API-key users. Unique. */
  external_subject: string | null;
  /** Overrides RATE_LIMIT_PER_MINUTE / TOKENS_PER_MINUTE for this user; null: the default. */
  rate_limit_per_minute: number | null;
  tokens_per_minute: number | null;
}

interface ApiKeysTable {
  id: string;
  user_id: string;
  /** SHA-256 of the key, hex. The key itself is never stored. */
  key_hash: string;
  /** First characters of the key, to let people tell keys apart. */
  key_prefix: string;
  created_at: string;
  revoked_at: string | null;
}

export interface ConversationsTable {
  id: string;
  user_id: string;
  title: string | null;
  created_at: string;
  updated_at: string;
  /** The Conversations API's metadata (JSON object), migration 0004. */
  metadata: Generated<string | null>;
}

export interface MessagesTable {
  id: string;
  /** Null for the items of a response outside any conversation (migration 0004). */
  conversation_id: string | null;
  /** Monotonic per database; orders messages even when ids are made on several instances. */
  seq: Generated<number>;
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | null;
  tokens: number;
  status: 'complete' | 'incomplete';
  /** JSON array of OpenAI tool calls on an assistant message. */
  tool_calls: string | null;
  /** On a tool message, the id of the call it answers. */
  tool_call_id: string | null;
  created_at: string;
  /** The response this row is an input or output item of (migration 0004). */
  response_id: Generated<string | null>;
  item_part: Generated<'input' | 'output' | null>;
  /** JSON: what an item holds beyond a chat message (see ItemDetails). */
  item_details: Generated<string | null>;
}

/** A stored response of the Responses API (migration 0004). */
export interface ResponsesTable {
  id: string;
  user_id: string;
  conversation_id: string | null;
  previous_response_id: string | null;
  status: string;
  /** 0 or 1 on both databases. */
  background: number;
  /** JSON: the request's settings as the Response object echoes them. */
  settings: string;
  /** JSON: the output items. */
  output: string;
  usage: string | null;
  error: string | null;
  incomplete_details: string | null;
  /** The resumable stream of a background response. */
  stream_id: string | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
}

export interface TasksTable {
  id: string;
  user_id: string;
  title: string;
  description: string | null;
  priority: 'low' | 'medium' | 'high';
  status: 'pending' | 'completed';
  created_at: string;
  updated_at: string;
}

interface TaskEmbeddingsTable {
  task_id: string;
  user_id: string;
  model: string;
  /** Length of the vector. */
  dimensions: number;
  /** SHA-256 of the embedded text: an unchanged title and description are never embedded again. */
  content_hash: string;
  /** float32 little-endian bytes. */
  vector: Buffer;
  embedded_at: string;
  /** The user's embedding revision when this row last changed (set by triggers, migration 0003). */
  revision: Generated<number>;
}

/** Per user, bumped by triggers on every change to the user's task embeddings. */
interface EmbeddingRevisionsTable {
  user_id: string;
  revision: number;
}

interface EmbeddingQueueTable {
  task_id: string;
  user_id: string;
  /** New on every enqueue: only the holder of the current version may store an embedding. */
  version: string;
  attempts: Generated<number>;
  next_attempt_at: string;
  last_error: string | null;
}

/** The usage ledger: one row per user, UTC day (YYYY-MM-DD) and model, added to by upserts. */
interface UsageDailyTable {
  user_id: string;
  day: string;
  model: string;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}
