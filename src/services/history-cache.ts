import { LRUCache } from 'lru-cache';
import type { HistoryEntry, Storage } from '../storage/storage.js';
import type { ChatCompletionMessageParam } from '../upstream/chat-model.js';
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
  /** The entries' model messages (frozen, shared between turns). */
  messages: readonly ChatCompletionMessageParam[];
  /** The messages' JSON joined by commas, in UTF-8: what a request sends of them (ChatRequest.serialised). */
  json: Buffer;
}

interface HistoryCacheOptions {
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

function cached(entry: HistoryEntry): CachedHistoryEntry {
  const toolCallsLength = entry.toolCalls?.reduce((n, c) => n + c.id.length + c.function.name.length + c.function.arguments.length + 64, 0) ?? 0;
  const size = ENTRY_OVERHEAD_BYTES + 2 * ((entry.content?.length ?? 0) + (entry.toolCallId?.length ?? 0) + toolCallsLength);
  // Spelled out: a spread plus extra fields makes an object V8 reads several times slower.
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

/** What is kept of one conversation: what a walk with the cover keeps, as of its newest seq read. */
interface ConversationWindow {
  /** The newest seq read (0 for an empty conversation; seqs start at 1). */
  readonly lastSeq: number;
  /** The newest message read that is not a tool answer. */
  readonly head: CachedHistoryEntry | undefined;
  /** Oldest first. */
  readonly kept: readonly CachedHistoryEntry[];
  /** The newest message read calls tools and is kept: tool answers stored next belong to its unit (else to none). */
  readonly openCall: boolean;
  /** The kept messages' JSON (see JoinedJson). */
  readonly joined: JoinedJson;
  /** Estimated heap bytes, for the cache's bound. */
  readonly bytes: number;
}

/** Messages' JSON joined by commas, in UTF-8, and where each message's begins. */
interface JoinedJson {
  readonly json: Buffer;
  readonly starts: readonly number[];
}

const noJson = Buffer.alloc(0);

/**
 * The JSON of `kept`'s model messages. Those that `previous` kept too are copied from its
 * JSON: the walk keeps whole units from the newest, so they are the oldest of `kept` and
 * the newest of `previous.kept`, in one run. Only the messages appended since are serialised.
 */
function joinJson(kept: readonly CachedHistoryEntry[], previous: ConversationWindow | undefined): JoinedJson {
  let reused = 0;
  if (previous) while (reused < kept.length && kept[reused]!.seq <= previous.lastSeq) reused++;
  const from = previous ? previous.kept.length - reused : 0;
  if (reused && (previous!.kept[from] !== kept[0] || previous!.kept.at(-1) !== kept[reused - 1])) reused = 0; // not one run: serialise all
  const parts: Buffer[] = [];
  const starts = new Array<number>(kept.length);
  let length = 0;
  if (reused) {
    const offset = previous!.joined.starts[from]!;
    const run = previous!.joined.json.subarray(offset);
    for (let i = 0; i < reused; i++) starts[i] = previous!.joined.starts[from + i]! - offset;
    parts.push(run);
    length = run.length;
  }
  for (let i = reused; i < kept.length; i++) {
    const piece = Buffer.from(`${length ? ',' : ''}${JSON.stringify(kept[i]!.message)}`);
    starts[i] = length ? length + 1 : 0;
    parts.push(piece);
    length += piece.length;
  }
  return { json: length ? Buffer.concat(parts, length) : noJson, starts };
}

/** The JSON of the newest `count` messages of `joined`'s. */
const newestJson = (joined: JoinedJson, count: number): Buffer =>
  count ? joined.json.subarray(joined.starts[joined.starts.length - count]) : noJson;

/** What a turn's read saw: the newest seq, and the newest message that is not a tool answer. */
interface Read {
  lastSeq: number;
  head: CachedHistoryEntry | undefined;
}

const callsTools = (entry: HistoryEntry | undefined): boolean => entry?.role === 'assistant' && !!entry.toolCalls?.length;

/**
 * Per-instance cache of the history that chat and agent turns send: per conversation,
 * the messages a walk with HISTORY_MAX_TOKENS keeps (model messages built once), so a
 * turn in a long conversation reads only what was appended since its last turn here
 * (`seq > lastSeq`, on the (conversation_id, seq) index) and walks those and the kept
 * ones, instead of reading and walking its newest ~1,000 messages again. The walk is
 * history.ts's: the same rules give the same selection, since a unit that did not fit
 * before cannot fit behind newer ones.
 * Measured (`npm run bench:builds`, a 1,000-message conversation, instant fake, 3 rounds):
 * 1,343 turns/s at c=32 with it, 321 without, and p50 at c=1 1.03 against 3.29 ms; with a
 * realistic upstream (200 ms, then 30 ms a chunk) 152 turns/s at c=32 both ways
 * (latency-bound), each turn then ~2 ms of the instance's CPU less. The window keeps its
 * messages' JSON as well, which the request sends as it is (ChatRequest.serialised): a
 * per-message JSON memo joined each turn cost 60 µs a turn (36 joining, 26 encoding);
 * with it, same run, 1,048 against 971 turns/s at c=32, 1,073 against 1,157 µs of CPU a
 * turn, p50 at c=1 1.55 against 2.06 ms; with the realistic upstream 151 against 152
 * turns/s (latency-bound), 1,312 against 1,388 µs of CPU a turn (3 rounds).
 *
 * The read of newer rows misses nothing: every write to a conversation first updates the
 * conversation's row in its own transaction (chat service), so on PostgreSQL the row lock
 * makes seq order the commit order within a conversation (a visible seq means every lower
 * one is visible too), and SQLite has one writer at a time. Messages are never edited, and
 * a deleted conversation 404s before its history is read (its entry is dropped as well).
 * Several instances on one database each keep their own.
 */
export function historyCache(options: HistoryCacheOptions) {
  const { storage, coverTokens } = options;
  const maxConversations = options.maxConversations ?? DEFAULT_MAX_CONVERSATIONS;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  /** Least recently used dropped first, by count and by estimated bytes. */
  const windows =
    maxConversations > 0
      ? new LRUCache<string, ConversationWindow>({ max: maxConversations, maxSize: maxBytes, sizeCalculation: (w) => Math.max(1, w.bytes) })
      : undefined;
  /** Bumped by every drop: a turn that read before it stores nothing after it. */
  let generation = 0;

  /** The conversation newest first from the database, page by page, as far as the walk asks. */
  function storedSource(conversationId: string, read: Read): HistorySource<CachedHistoryEntry> {
    let complete = false;
    let oldest: number | undefined;
    return async (want) => {
      if (complete) return [];
      const page = (await storage.messages.newestFirst(conversationId, { limit: want, beforeSeq: oldest })).map(cached);
      complete = page.length < want;
      if (oldest === undefined) read.lastSeq = page[0]?.seq ?? 0;
      read.head ??= page.find((e) => e.role !== 'tool');
      oldest = page.at(-1)?.seq ?? oldest;
      return page;
    };
  }

  /**
   * What was appended since `window` was read, then what it kept, newest first, as one
   * batch; undefined when that is too much to be worth it. Tool answers stored first
   * belong to the window's newest unit when it is an open call; else (after a message
   * left out, or a call not kept) to no unit, as a walk over everything would find.
   */
  async function cachedSource(conversationId: string, window: ConversationWindow, read: Read): Promise<HistorySource<CachedHistoryEntry> | undefined> {
    const rows = await storage.messages.newerThan(conversationId, { afterSeq: window.lastSeq, limit: MAX_NEWER });
    if (rows.length >= MAX_NEWER) return undefined;
    const newer = rows.map(cached);
    read.lastSeq = newer.at(-1)?.seq ?? window.lastSeq;
    read.head = newer.findLast((e) => e.role !== 'tool') ?? window.head;
    const firstHead = newer.findIndex((e) => e.role !== 'tool');
    const orphans = window.openCall ? 0 : firstHead === -1 ? newer.length : firstHead;
    let batch: CachedHistoryEntry[] | undefined = [...newer.slice(orphans).reverse(), ...window.kept.toReversed()];
    return async () => {
      const all = batch ?? [];
      batch = undefined;
      return all;
    };
  }

  return {
    /**
     * The newest messages of a conversation that fit `budget`, oldest first, and their
     * tokens: exactly what HistoryWalk's rules keep over all the stored messages.
     */
    async select(conversationId: string, budget: number): Promise<HistorySelection> {
      const started = generation;
      const read: Read = { lastSeq: 0, head: undefined };
      const current = budget <= coverTokens ? windows?.get(conversationId) : undefined;
      const source = (current && (await cachedSource(conversationId, current, read))) ?? storedSource(conversationId, read);
      const walk = await walkHistory(source, Math.max(budget, coverTokens));
      const { messages: entries, tokens } = walk.selectedWithin(budget);
      const messages = entries.map((e) => e.message);
      if (budget > coverTokens) return { entries, tokens, messages, json: joinJson(entries, undefined).json };
      // The selection is the newest units of what the cover keeps.
      const kept = walk.selectedWithin(coverTokens).messages;
      const joined = joinJson(kept, current);
      const latest = windows?.peek(conversationId);
      // Of turns reading at once, the one that read the most recent messages is kept.
      if (generation === started && (!latest || latest.lastSeq < read.lastSeq)) {
        const openCall = callsTools(read.head) && kept.includes(read.head!);
        const bytes = kept.reduce((n, e) => n + e.size, joined.json.length);
        windows?.set(conversationId, { lastSeq: read.lastSeq, head: read.head, kept, openCall, joined, bytes });
      }
      return { entries, tokens, messages, json: newestJson(joined, entries.length) };
    },

    /** Forgets a conversation (deleted). */
    drop(conversationId: string): void {
      generation++;
      windows?.delete(conversationId);
    },
  };
}

export type HistoryCache = ReturnType<typeof historyCache>;
