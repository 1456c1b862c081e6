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
/** Dropped entries at the old end are let go once there are this many, and more than live ones. */
const COMPACT_AFTER = 256;

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

const isCall = (entry: HistoryEntry): boolean => entry.role === 'assistant' && !!entry.toolCalls?.length;

/**
 * What is kept of one conversation: the units HistoryWalk keeps for `cover` tokens, oldest
 * first, with running token sums, so a turn's selection is a
 * binary search and two slices, and a new message is an append: no turn walks the history. Entries only ever go on at the new end and come off
 * at the old end (`start`); a selection holds slices of the arrays, so turns in flight
 * keep what they selected.
 *
 * HistoryWalk's rules, oldest first: every message that is not a tool answer starts a
 * group, and the tool answers after it belong to it. A group whose head calls tools is
 * one unit with its answers; any other head with content is a unit alone (the answers
 * after it have no call and are left out); a head with nothing in it is left out with its
 * group. Walking newest first, whole units are kept while they fit, so what is kept is
 * the longest run of newest units that fits: adding units at the new end and dropping
 * the oldest until the rest fits keeps exactly that.
 */
class ConversationWindow {
  private entries: CachedHistoryEntry[] = [];
  /** The entries' model messages, for slicing. */
  private models: CachedHistoryEntry['message'][] = [];
  /** sums[i]: the tokens of entries[0..i). */
  private sums: number[] = [0];
  /** The oldest entry kept: the ones before it no longer fit. */
  private start = 0;
  /** The newest seq read (0 for an empty conversation; seqs start at 1). */
  lastSeq = 0;
  /** The newest head read calls tools, and its unit is the newest here: answers read next belong to it. */
  private openCall = false;
  private entryBytes = 0;

  constructor(readonly cover: number) {}

  private get end(): number {
    return this.entries.length;
  }

  /** Estimated heap bytes, for the cache's bound. */
  get bytes(): number {
    return this.entryBytes + this.entries.length * 24;
  }

  /** Adds the next newer message, as HistoryWalk's rules group it, and drops what no longer fits. */
  add(entry: CachedHistoryEntry): void {
    this.lastSeq = entry.seq;
    if (entry.role === 'tool') {
      if (this.openCall) this.append(entry);
    } else {
      this.openCall = false;
      if (!isCall(entry) && !entry.content) return;
      this.append(entry);
      this.openCall = isCall(entry);
    }
    this.trim();
  }

  /** Puts entries HistoryWalk kept (oldest first, whole units) in, as they are. */
  fill(kept: readonly CachedHistoryEntry[], lastSeq: number, openCall: boolean): void {
    for (const entry of kept) this.append(entry);
    this.lastSeq = lastSeq;
    this.openCall = openCall;
  }

  /** The newest units that fit `budget` (at most the cover), oldest first. */
  select(budget: number): HistorySelection {
    const end = this.end;
    const sums = this.sums;
    // The first unit from which on everything fits: the first entry with enough after it, moved on to a unit's start.
    const need = sums[end]! - budget;
    let low = this.start;
    let high = end;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (sums[middle]! >= need) high = middle;
      else low = middle + 1;
    }
    const from = this.unitAtOrAfter(low, end);
    return {
      entries: this.entries.slice(from, end),
      tokens: sums[end]! - sums[from]!,
      messages: this.models.slice(from, end),
    };
  }

  private unitAtOrAfter(index: number, end: number): number {
    while (index < end && this.entries[index]!.role === 'tool') index++;
    return index;
  }

  private trim(): void {
    const end = this.end;
    while (this.start < end && this.sums[end]! - this.sums[this.start]! > this.cover) {
      this.start = this.unitAtOrAfter(this.start + 1, end);
    }
    // The newest unit gone too: its answers still to come would not be kept either.
    if (this.start === end) this.openCall = false;
    if (this.start >= COMPACT_AFTER && this.start > end - this.start) this.rebuild();
  }

  private append(entry: CachedHistoryEntry): void {
    const n = this.end;
    this.entries.push(entry);
    this.models.push(entry.message);
    this.sums.push(this.sums[n]! + entry.tokens);
    this.entryBytes += entry.size;
  }

  /** New arrays holding only the live entries: what selections in flight hold stays as it was. */
  private rebuild(): void {
    const { start } = this;
    const sumBase = this.sums[start]!;
    for (let i = 0; i < start; i++) this.entryBytes -= this.entries[i]!.size;
    this.entries = this.entries.slice(start);
    this.models = this.models.slice(start);
    this.sums = this.sums.slice(start).map((sum) => sum - sumBase);
    this.start = 0;
  }
}

/**
 * Per-instance cache of the history that chat and agent turns send: per conversation,
 * the newest messages that HISTORY_MAX_TOKENS can reach (a ConversationWindow), with their model
 * messages and JSON ready-made, so a turn in a long conversation does not read,
 * walk and serialise ~1,000 messages again.
 *
 * Every turn checks it against the database by reading only what was appended since
 * (`seq > lastSeq`, on the (conversation_id, seq) index). That read misses nothing:
 * every write to a conversation first updates the conversation's row in its own
 * transaction (chat service), so on PostgreSQL the row lock makes seq order the commit
 * order within a conversation (a visible seq means every lower one is visible too),
 * and SQLite has one writer at a time. Two such reads are then both prefixes of one
 * order, so whatever turn reads last adds only what is newer than the run already has.
 * Messages are never edited, and a deleted conversation 404s before its history is read
 * (its entry is dropped as well). Several instances on one database each keep their own.
 */
export function historyCache(options: HistoryCacheOptions) {
  const { storage, coverTokens } = options;
  const maxConversations = options.maxConversations ?? DEFAULT_MAX_CONVERSATIONS;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  /** Least recently used dropped first, by count and by estimated bytes (a run's size is counted when it is kept). */
  const runs =
    maxConversations > 0
      ? new LRUCache<string, ConversationWindow>({ max: maxConversations, maxSize: maxBytes, sizeCalculation: (run) => Math.max(1, run.bytes) })
      : undefined;
  /** Bumped by every drop: a turn that read before it stores nothing after it. */
  let generation = 0;

  /** Adds what was appended since the run's last read; false when that is too much to be worth it. */
  async function refresh(conversationId: string, run: ConversationWindow): Promise<boolean> {
    const newer = await storage.messages.newerThan(conversationId, { afterSeq: run.lastSeq, limit: MAX_NEWER });
    if (newer.length >= MAX_NEWER) return false;
    // Another turn may have added some of these meanwhile (see above).
    for (const row of newer) if (row.seq > run.lastSeq) run.add(cached(row));
    return true;
  }

  /** Reads the history from the newest message back, as far as `cover` reaches: a run from scratch. */
  async function readRun(conversationId: string, cover: number): Promise<ConversationWindow> {
    /** The first page read: the conversation's newest messages. */
    let newest: CachedHistoryEntry[] | undefined;
    let complete = false;
    let oldest: number | undefined;
    const source: HistorySource<CachedHistoryEntry> = async (want) => {
      if (complete) return [];
      const page = (await storage.messages.newestFirst(conversationId, { limit: want, beforeSeq: oldest })).map(cached);
      complete = page.length < want;
      oldest = page.at(-1)?.seq ?? oldest;
      newest ??= page;
      return page;
    };
    const walk = await walkHistory(source, cover);
    const kept = walk.selectedWithin(cover).messages;
    // Answers read next belong to the newest head if it calls tools and its unit was kept.
    const head = newest?.find((e) => e.role !== 'tool');
    const run = new ConversationWindow(cover);
    run.fill(kept, newest?.[0]?.seq ?? 0, !!head && isCall(head) && kept.includes(head));
    return run;
  }

  return {
    /**
     * The newest messages of a conversation that fit `budget`, oldest first, and their
     * tokens: exactly what HistoryWalk's rules keep over all the stored messages.
     */
    async select(conversationId: string, budget: number): Promise<HistorySelection> {
      const started = generation;
      if (budget > coverTokens) return (await readRun(conversationId, budget)).select(budget);
      let run = runs?.get(conversationId);
      if (!run || !(await refresh(conversationId, run))) {
        const fresh = await readRun(conversationId, coverTokens);
        // Of runs read at once, the one that read the most recent messages is kept.
        const current = runs?.peek(conversationId);
        run = current && current.lastSeq >= fresh.lastSeq ? current : fresh;
      }
      // Kept (again, as the most recently used, its size counted anew) unless the conversation was dropped meanwhile.
      if (generation === started) runs?.set(conversationId, run);
      return run.select(budget);
    },

    /** Forgets a conversation (deleted). */
    drop(conversationId: string): void {
      generation++;
      runs?.delete(conversationId);
    },

    /** What is kept now: for tests and metrics. */
    stats: () => ({ conversations: runs?.size ?? 0, bytes: runs?.calculatedSize ?? 0 }),
  };
}

export type HistoryCache = ReturnType<typeof historyCache>;
