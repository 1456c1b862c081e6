import type { HistoryEntry, Storage } from '../storage/storage.js';
import type { ChatCompletionMessageParam } from '../upstream/chat-model.js';
import { carriedJsonBytes, historyList, type MessageList } from '../upstream/chat-request-body.js';
import { type HistorySource, toModelMessage, walkHistory } from './history.js';

/** A stored message as history needs it, with its model message built once and frozen (it is shared between turns). */
export interface CachedHistoryEntry extends HistoryEntry {
  readonly message: ChatCompletionMessageParam;
  /** Estimated heap bytes, for the cache's bound. */
  readonly size: number;
}

export interface HistorySelection {
  /** Oldest first. */
  entries: CachedHistoryEntry[];
  tokens: number;
  /** The entries' model messages, with their JSON made (see historyList). */
  messages: MessageList;
}

/** What is kept of one conversation: its newest messages, a contiguous run. */
interface CachedConversation {
  /** Newest first, with no message missing in between. */
  newestFirst: readonly CachedHistoryEntry[];
  /** The run reaches the conversation's first message. */
  complete: boolean;
  /** The newest seq read (0 for an empty conversation; seqs start at 1). */
  lastSeq: number;
  bytes: number;
  /** The model messages of the last selection: the next one's JSON is mostly its JSON (historyList). Counted in `bytes`. */
  lastSelected: MessageList | undefined;
}

export interface HistoryCacheOptions {
  storage: Pick<Storage, 'messages'>;
  /** The largest budget selections are made for (HISTORY_MAX_TOKENS): each entry keeps what that needs. */
  coverTokens: number;
  /** Conversations kept, least recently used dropped first. Default: 1,000; 0 keeps none. */
  maxConversations?: number;
  /** Estimated heap bytes over every conversation kept. Default: 64 MiB. */
  maxBytes?: number;
}

const DEFAULT_MAX_CONVERSATIONS = 1000;
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
/** More new messages than this since the last turn here: reading the history afresh is cheaper. */
const MAX_NEWER = 1024;
/** Rough heap cost of one entry beyond its strings (two objects and their fields). */
const ENTRY_OVERHEAD_BYTES = 240;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

const sizeOf = (entries: readonly CachedHistoryEntry[]): number => entries.reduce((sum, e) => sum + e.size, 0);

function cached(entry: HistoryEntry): CachedHistoryEntry {
  const toolCallsLength = entry.toolCalls?.reduce((n, c) => n + c.id.length + c.function.name.length + c.function.arguments.length + 64, 0) ?? 0;
  const size = ENTRY_OVERHEAD_BYTES + 2 * ((entry.content?.length ?? 0) + (entry.toolCallId?.length ?? 0) + toolCallsLength);
  // Spelled out: a spread plus extra fields makes an object V8 reads several times slower, and every turn walks them all.
  return deepFreeze({
    seq: entry.seq,
    role: entry.role,
    content: entry.content,
    tokens: entry.tokens,
    toolCalls: entry.toolCalls,
    toolCallId: entry.toolCallId,
    message: toModelMessage(entry),
    size,
  });
}

/**
 * Per-instance cache of the history that chat and agent turns send: per conversation,
 * the newest messages that HISTORY_MAX_TOKENS can reach, with their model messages
 * ready-made, so a turn in a long conversation does not read and rebuild ~1,000 rows.
 *
 * Every turn checks it against the database by reading only what was appended since
 * (`seq > lastSeq`, on the (conversation_id, seq) index). That read misses nothing:
 * every write to a conversation first updates the conversation's row in its own
 * transaction (chat service), so on PostgreSQL the row lock makes seq order the commit
 * order within a conversation (a visible seq means every lower one is visible too),
 * and SQLite has one writer at a time. Messages are never edited, and a deleted
 * conversation 404s before its history is read (its entry is dropped as well).
 * Several instances on one database each keep their own entries; concurrent turns in
 * one conversation each work on their own copy, and the one that read the most recent
 * messages is kept.
 */
export function historyCache(options: HistoryCacheOptions) {
  const { storage, coverTokens } = options;
  const maxConversations = options.maxConversations ?? DEFAULT_MAX_CONVERSATIONS;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const conversations = new Map<string, CachedConversation>();
  let totalBytes = 0;
  /** Bumped by every drop: a turn that read before it stores nothing after it. */
  let generation = 0;

  /** The cached run brought up to date: what was appended since, added at the new end. */
  async function refreshed(conversationId: string, entry: CachedConversation): Promise<CachedConversation | undefined> {
    const newer = await storage.messages.newerThan(conversationId, { afterSeq: entry.lastSeq, limit: MAX_NEWER });
    if (newer.length >= MAX_NEWER) return undefined;
    if (!newer.length) return { ...entry };
    const added = newer.reverse().map(cached);
    return {
      newestFirst: added.concat(entry.newestFirst),
      complete: entry.complete,
      lastSeq: added[0]!.seq,
      bytes: entry.bytes + sizeOf(added),
      lastSelected: entry.lastSelected,
    };
  }

  /** Serves `view` newest first, then older messages from the database, adding them to `view`. */
  function source(conversationId: string, view: CachedConversation): HistorySource<CachedHistoryEntry> {
    let served = false;
    return async (want) => {
      if (!served) {
        served = true;
        if (view.newestFirst.length) return view.newestFirst;
      }
      if (view.complete) return [];
      const oldest = view.newestFirst.at(-1)?.seq;
      const page = (await storage.messages.newestFirst(conversationId, { limit: want, beforeSeq: oldest })).map(cached);
      if (oldest === undefined) view.lastSeq = page[0]?.seq ?? 0;
      view.complete = page.length < want;
      view.newestFirst = view.newestFirst.concat(page);
      view.bytes += sizeOf(page);
      return page;
    };
  }

  function store(conversationId: string, view: CachedConversation): void {
    remove(conversationId);
    if (maxConversations <= 0 || view.bytes > maxBytes) return;
    conversations.set(conversationId, view);
    totalBytes += view.bytes;
    for (const [id] of conversations) {
      if (conversations.size <= maxConversations && totalBytes <= maxBytes) break;
      remove(id);
    }
  }

  function remove(conversationId: string): void {
    const entry = conversations.get(conversationId);
    if (!entry) return;
    conversations.delete(conversationId);
    totalBytes -= entry.bytes;
  }

  return {
    /**
     * The newest messages of a conversation that fit `budget`, oldest first, and their
     * tokens: exactly what HistoryWalk's rules keep over all the stored messages.
     * `messages` are their model messages as a list whose JSON is already made.
     */
    async select(conversationId: string, budget: number): Promise<HistorySelection> {
      const started = generation;
      const entry = conversations.get(conversationId);
      const view = (entry && (await refreshed(conversationId, entry))) ?? { newestFirst: [], complete: false, lastSeq: 0, bytes: 0, lastSelected: undefined };
      // One walk as far back as the largest budget reaches (reading older messages once),
      // which also answers for this turn's budget; the run keeps no more than it needed.
      const walk = await walkHistory(source(conversationId, view), Math.max(coverTokens, budget));
      if (walk.stoppedAt && walk.seen < view.newestFirst.length) {
        for (let i = walk.seen; i < view.newestFirst.length; i++) view.bytes -= view.newestFirst[i]!.size;
        view.newestFirst = view.newestFirst.slice(0, walk.seen);
        view.complete = false;
      }
      const { messages: entries, tokens } = walk.selectedWithin(budget);
      const messages = historyList(entries.map((e) => e.message), view.lastSelected);
      view.bytes += carriedJsonBytes(messages) - (view.lastSelected ? carriedJsonBytes(view.lastSelected) : 0);
      view.lastSelected = messages;
      // The freshest view is kept: with many turns in flight in one conversation, the next
      // turn then reads only what was appended since the latest read, not since an old one.
      const current = conversations.get(conversationId);
      if (generation === started && (current === entry || !current || view.lastSeq >= current.lastSeq)) store(conversationId, view);
      return { entries, tokens, messages };
    },

    /** Forgets a conversation (deleted). */
    drop(conversationId: string): void {
      generation++;
      remove(conversationId);
    },

    /** What is kept now: for tests and metrics. */
    stats: () => ({ conversations: conversations.size, bytes: totalBytes }),
  };
}

export type HistoryCache = ReturnType<typeof historyCache>;
