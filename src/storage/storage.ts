/**
 * The storage boundary: the narrow interface services use. Knows nothing of
 * HTTP or OpenAI. One implementation per database (sqlite.ts, postgres.ts),
 * sharing the Kysely repositories where the SQL is the same.
 */
export type SqlDialectName = 'sqlite' | 'postgres';

export interface User {
  id: string;
  name: string;
  createdAt: string;
  /** This user's RATE_LIMIT_PER_MINUTE; null (or absent) for the default. */
  rateLimitPerMinute?: number | null;
  /** This user's TOKENS_PER_MINUTE; null (or absent) for the default. */
  tokensPerMinute?: number | null;
}

/** A change of a user's limits: a number sets one, null resets it to the default, absent leaves it. */
export type UserLimitChanges = Partial<Pick<User, 'rateLimitPerMinute' | 'tokensPerMinute'>>;

export interface ApiKeyRecord {
  id: string;
  userId: string;
  keyHash: string;
  keyPrefix: string;
  createdAt: string;
}

export interface Conversation {
  id: string;
  userId: string;
  title: string | null;
  createdAt: string;
  updatedAt: string;
}

type MessageRole = 'system' | 'user' | 'assistant' | 'tool';
export type MessageStatus = 'complete' | 'incomplete';

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface Message {
  id: string;
  conversationId: string;
  /** Storage order within the conversation. */
  seq: number;
  role: MessageRole;
  content: string | null;
  tokens: number;
  status: MessageStatus;
  toolCalls: ToolCall[] | null;
  toolCallId: string | null;
  createdAt: string;
}

export type NewMessage = Omit<Message, 'seq'>;

/** What building a history needs of a message, and no more. */
export type HistoryEntry = Pick<Message, 'seq' | 'role' | 'content' | 'tokens' | 'toolCalls' | 'toolCallId'>;

export type TaskPriority = 'low' | 'medium' | 'high';
export type TaskStatus = 'pending' | 'completed';

export interface Task {
  id: string;
  userId: string;
  title: string;
  description: string | null;
  priority: TaskPriority;
  status: TaskStatus;
  createdAt: string;
  updatedAt: string;
}

type TaskChanges = Partial<Pick<Task, 'title' | 'description' | 'priority' | 'status'>>;

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

export interface UserRepository {
  /** Creates a user and its first key in one transaction. */
  createWithKey(user: User, key: ApiKeyRecord): Promise<void>;
  addKey(key: ApiKeyRecord): Promise<void>;
  /** The user owning an unrevoked key with this hash. */
  findByKeyHash(keyHash: string): Promise<User | undefined>;
  list(): Promise<Array<User & { activeKeys: number }>>;
  /** Revokes by key id or key hash; false when no active key matched. */
  revokeKey(idOrHash: string, at: string): Promise<boolean>;
  /** The user signed in as `subject` (a JWT's `sub`). */
  findBySubject(subject: string): Promise<User | undefined>;
  /**
   * The user of `subject`, created as `user` if there is none: exactly one user per subject
   * however many requests race to create it (a unique column; insert, then read back).
   */
  findOrCreateBySubject(subject: string, user: User): Promise<User>;
  get(id: string): Promise<User | undefined>;
  /** Sets or resets (null) a user's limits; undefined for an unknown user. */
  updateLimits(id: string, changes: UserLimitChanges): Promise<User | undefined>;
}

/** Model usage of one user, on one UTC day (YYYY-MM-DD), with one model. */
export interface UsageRecord {
  userId: string;
  day: string;
  model: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export interface UsageRepository {
  /** Adds each record to its (user, day, model) row, in one transaction: one upsert per record. */
  add(records: readonly UsageRecord[]): Promise<void>;
  /** Rows of days `from`..`to` (inclusive), of one user or all, by day, user and model. */
  list(options: { from: string; to: string; userId?: string | undefined }): Promise<UsageRecord[]>;
}

export interface ConversationRepository {
  create(conversation: Conversation): Promise<void>;
  get(userId: string, id: string): Promise<Conversation | undefined>;
  /** Newest first; `cursor` is the `nextCursor` of the previous page. */
  list(userId: string, options: { limit: number; cursor?: string | undefined }): Promise<Page<Conversation>>;
  update(userId: string, id: string, changes: { title?: string | null; updatedAt: string }): Promise<Conversation | undefined>;
  /** Marks activity; sets the title only when it has none yet. False when the conversation no longer exists. */
  touch(id: string, updatedAt: string, titleIfUnset?: string): Promise<boolean>;
  delete(userId: string, id: string): Promise<boolean>;
  /** The Conversations API's metadata (undefined: no such conversation of the user). */
  metadata(userId: string, id: string): Promise<Record<string, string> | null | undefined>;
  /** False when the user has no such conversation. */
  setMetadata(userId: string, id: string, metadata: Record<string, string> | null, updatedAt: string): Promise<boolean>;
}

export interface MessageRepository {
  append(message: NewMessage): Promise<Message>;
  /**
   * Stores the message unless one with its id is already stored (then undefined): how a
   * reply is stored by two parties that may both try, a stream's producer and the instance
   * settling it as lost.
   */
  appendIfAbsent(message: NewMessage): Promise<Message | undefined>;
  /** Oldest first; `cursor` is the `nextCursor` of the previous page. */
  list(conversationId: string, options: { limit: number; cursor?: string | undefined }): Promise<Page<Message>>;
  /** Newest first, strictly before `beforeSeq` when given: for walking history back. */
  newestFirst(conversationId: string, options: { limit: number; beforeSeq?: number | undefined }): Promise<HistoryEntry[]>;
  /** Oldest first, strictly after `afterSeq`, at most `limit`: what was appended since a message was read. */
  newerThan(conversationId: string, options: { afterSeq: number; limit: number }): Promise<HistoryEntry[]>;
}

/** Where a message row stands in a response: among its input items or its output. */
export type ItemPart = 'input' | 'output';

/** What an item holds beyond a chat message. */
interface ItemDetails {
  /** A `developer` message is sent as `system`, and listed as what it was. */
  role?: 'developer';
}

/**
 * A message row as the Responses API sees it: one item, or several for an assistant message
 * that holds text and tool calls (each call is a `function_call` item). Rows of a response
 * outside any conversation have no `conversationId`.
 */
export interface ItemRow extends Omit<Message, 'conversationId'> {
  conversationId: string | null;
  responseId: string | null;
  part: ItemPart | null;
  details: ItemDetails | null;
}

type NewItemRow = Omit<ItemRow, 'seq'>;

export type ListOrder = 'asc' | 'desc';

export interface ItemRepository {
  /** Appends rows in order (the caller touches their conversation first, in the same transaction). */
  append(rows: readonly NewItemRow[]): Promise<ItemRow[]>;
  /** A row the user owns, through its conversation, or its response when it is in none. */
  find(userId: string, rowId: string): Promise<ItemRow | undefined>;
  /** A conversation's rows in `order`, from `fromSeq` on (inclusive, in that order), at most `limit`. */
  listConversation(conversationId: string, options: { order: ListOrder; fromSeq?: number | undefined; limit: number }): Promise<ItemRow[]>;
  /** A response's rows of one part, as listConversation. */
  listResponse(responseId: string, part: ItemPart, options: { order: ListOrder; fromSeq?: number | undefined; limit: number }): Promise<ItemRow[]>;
  /** Rows of these responses newest first, strictly before `beforeSeq` when given: for walking a chain back. */
  newestOfResponses(responseIds: readonly string[], options: { limit: number; beforeSeq?: number | undefined }): Promise<HistoryEntry[]>;
  /** Rewrites a row's text or tool calls (one of the items it holds deleted). */
  rewrite(rowId: string, changes: { content?: string | null; toolCalls?: ToolCall[] | null }): Promise<void>;
  delete(rowId: string): Promise<boolean>;
}

export type ResponseStatus = 'queued' | 'in_progress' | 'completed' | 'failed' | 'cancelled' | 'incomplete';

/** A stored response; the JSON fields are the Response object's, as answered. */
export interface ResponseRecord {
  id: string;
  userId: string;
  conversationId: string | null;
  previousResponseId: string | null;
  status: ResponseStatus;
  background: boolean;
  settings: Record<string, unknown>;
  output: unknown[];
  usage: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
  incompleteDetails: { reason: string } | null;
  streamId: string | null;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
}

type ResponseOutcome = Pick<ResponseRecord, 'status' | 'output' | 'usage' | 'error' | 'incompleteDetails' | 'updatedAt' | 'completedAt'>;

/** One link of a previous_response_id chain. */
export interface ResponseLink {
  id: string;
  previousResponseId: string | null;
}

export interface ResponseRepository {
  create(response: ResponseRecord): Promise<void>;
  get(userId: string, id: string): Promise<ResponseRecord | undefined>;
  /**
   * Writes how a response ended (or where it stands: in_progress), only while its status is
   * one of `whileStatus` when given. False when nothing was written.
   */
  settle(id: string, outcome: Partial<ResponseOutcome> & Pick<ResponseOutcome, 'status' | 'updatedAt'>, whileStatus?: readonly ResponseStatus[]): Promise<boolean>;
  setStreamId(id: string, streamId: string): Promise<void>;
  /** Deletes it with the items it holds outside any conversation; its conversation's items stay. */
  delete(userId: string, id: string): Promise<boolean>;
  /** `id` and up to `limit - 1` of its ancestors (previous_response_id), nearest first; the user's only. */
  chain(userId: string, id: string, limit: number): Promise<ResponseLink[]>;
}

export interface TaskRepository {
  create(task: Task): Promise<void>;
  get(userId: string, id: string): Promise<Task | undefined>;
  /** Newest first, only `status` when given; `cursor` is the `nextCursor` of the previous page. */
  list(userId: string, options: { status?: TaskStatus | undefined; limit: number; cursor?: string | undefined }): Promise<Page<Task>>;
  update(userId: string, id: string, changes: TaskChanges & { updatedAt: string }): Promise<Task | undefined>;
  delete(userId: string, id: string): Promise<boolean>;
}

/** The vectors of one embedding model at one size: only vectors of the same space compare. */
export interface EmbeddingSpace {
  model: string;
  dimensions: number;
}

export interface TaskEmbedding extends EmbeddingSpace {
  taskId: string;
  userId: string;
  /** SHA-256 of the embedded text. */
  contentHash: string;
  vector: Float32Array;
  embeddedAt: string;
}

/** A task waiting in the embedding queue, with its current text and what is stored for it now. */
export interface EmbeddingJob {
  taskId: string;
  userId: string;
  title: string;
  description: string | null;
  version: string;
  attempts: number;
  stored: (EmbeddingSpace & { contentHash: string }) | null;
}

export interface SimilarTask {
  id: string;
  title: string;
  /** Cosine similarity, -1..1. */
  similarity: number;
}

/** A stored embedding as a reader of changes sees it. */
export interface StoredEmbedding extends EmbeddingSpace {
  taskId: string;
  /** The user's embedding revision when the row last changed. */
  revision: number;
  vector: Float32Array;
}

export interface EmbeddingRepository {
  /** Marks a task as needing an embedding, under a new `version`, due at `notBefore`. */
  enqueue(job: { taskId: string; userId: string; version: string; notBefore: string }): Promise<void>;
  /** The queued job of one task, if any. */
  job(taskId: string): Promise<EmbeddingJob | undefined>;
  /** Up to `limit` jobs due at `now`, oldest due first, leased (not due again) until `leaseUntil`. */
  claimDue(options: { now: string; limit: number; leaseUntil: string }): Promise<EmbeddingJob[]>;
  /**
   * Finishes jobs: each whose queued version is still `version` leaves the queue and its
   * embedding (when given) is stored; a job re-queued meanwhile (new title) is left alone.
   * Returns how many embeddings were stored.
   */
  complete(done: Array<{ taskId: string; version: string; embedding?: TaskEmbedding | undefined }>): Promise<number>;
  /** Puts jobs back, due at `notBefore`; `failed` counts an attempt. */
  reschedule(taskIds: string[], options: { notBefore: string; failed: boolean; error?: string | undefined }): Promise<void>;
  /**
   * Queues every task without an embedding in `space` (any size when `dimensions` is
   * undefined) that is not queued already. Returns how many were queued.
   */
  enqueueStale(space: { model: string; dimensions?: number | undefined }, options: { version: string; notBefore: string }): Promise<number>;
  /** The vector sizes stored for `model`. */
  dimensionsInUse(model: string): Promise<number[]>;
  pendingCount(): Promise<number>;
  /** The user's `topK` tasks most similar to `vector` among those embedded in `space`; exact cosine, most similar first. */
  search(userId: string, space: EmbeddingSpace, vector: Float32Array, topK: number): Promise<SimilarTask[]>;
  /**
   * The user's embedding revision: moves on every insert, change or delete of the user's
   * embeddings (by anyone); 0 before the first. Rows up to it are all committed.
   */
  revision(userId: string): Promise<number>;
  /**
   * The user's embeddings (any space) changed after `after`, in (revision, task id) order, at
   * most `limit`; page on with the last one's revision and id. Rows written before revisions
   * existed have revision 0.
   */
  changedSince(userId: string, options: { after: { revision: number; taskId: string }; limit: number }): Promise<StoredEmbedding[]>;
  /** How many of the user's tasks are embedded in `space`. */
  countIn(userId: string, space: EmbeddingSpace): Promise<number>;
  /** The ids of the user's tasks embedded in `space`. */
  idsIn(userId: string, space: EmbeddingSpace): Promise<string[]>;
  /** Titles and stored vectors of these tasks of the user, where embedded in `space` (others are left out). */
  vectorsOf(userId: string, space: EmbeddingSpace, taskIds: readonly string[]): Promise<Array<{ id: string; title: string; vector: Float32Array }>>;
  /** How search scores vectors here: sqlite-vec, pgvector or js. */
  searchMethod(): Promise<VectorSearchMethod>;
}

export type VectorSearchMethod = 'sqlite-vec' | 'pgvector' | 'js';

export interface Storage {
  readonly dialect: SqlDialectName;
  readonly users: UserRepository;
  readonly conversations: ConversationRepository;
  readonly messages: MessageRepository;
  /** The Responses API's items: message rows seen as items (migration 0004). */
  readonly items: ItemRepository;
  readonly responses: ResponseRepository;
  readonly tasks: TaskRepository;
  readonly embeddings: EmbeddingRepository;
  readonly usage: UsageRepository;
  /** Runs `work` in one transaction; repositories passed in are bound to it. */
  transaction<T>(work: (tx: Omit<Storage, 'transaction' | 'close' | 'ping' | 'migrate'>) => Promise<T>): Promise<T>;
  /** Applies pending migrations; safe when several instances start at once. */
  migrate(): Promise<void>;
  /** Throws when the database does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
