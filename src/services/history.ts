import type { ChatCompletionMessageParam } from '../upstream/chat-model.js';
import type { HistoryEntry } from '../storage/storage.js';

/**
 * A conversation's messages newest first, one batch per call, continuing where the
 * last batch ended; an empty batch means there are no more. `want` is how many more
 * messages would probably cover the rest of the budget: a hint for sizing reads.
 */
export type HistorySource<T extends HistoryEntry> = (want: number) => Promise<readonly T[]>;

const MIN_PAGE = 32;
const MAX_PAGE = 1024;
/** A first guess at a message's size, to size the first read. */
const TYPICAL_MESSAGE_TOKENS = 24;
/** No message costs less than this (the per-message overhead plus one token). */
const MIN_MESSAGE_TOKENS = 4;

/**
 * The selection rules, fed one message at a time, newest first: whole units are
 * kept while they fit `budget`; the first unit that does not fit ends the walk.
 * An assistant message with tool_calls and the tool messages answering it are one
 * unit, kept or dropped together, so the history stays one the API accepts; tool
 * answers without their call, and messages with nothing in them, are left out.
 * A walk also answers for any smaller budget (`selectedWithin`): it keeps the same
 * units up to the first one that does not fit.
 */
export class HistoryWalk<T extends HistoryEntry> {
  /**
   * Messages of the units kept, newest first. A unit is one message, or tool answers
   * followed by the assistant message that called them: every unit ends with its one
   * message that is not a tool answer, which is how selectedWithin finds units again.
   */
  private kept: T[] = [];
  private keptCount = 0;
  /** Tool messages waiting for the assistant message that called them, newest first. */
  private answers: T[] = [];
  private answerTokens = 0;
  /** Tokens of the units kept so far. */
  used = 0;
  /** Messages fed so far (the one that ended the walk included), and their tokens. */
  seen = 0;
  seenTokens = 0;

  constructor(readonly budget: number) {}

  /** Feeds the next older message; false once the budget is reached (feed no more). */
  add(message: T): boolean {
    this.seen++;
    this.seenTokens += message.tokens;
    if (message.role === 'tool') {
      this.answers.push(message);
      this.answerTokens += message.tokens;
      return true;
    }
    const calls = message.role === 'assistant' && !!message.toolCalls?.length;
    // Tool answers without their call cannot be sent; a message with nothing in it need not be.
    if (!calls && !message.content) {
      this.dropAnswers();
      return true;
    }
    const cost = calls ? message.tokens + this.answerTokens : message.tokens;
    if (this.used + cost > this.budget) return false;
    this.used += cost;
    if (calls) for (const answer of this.answers) this.keep(answer);
    this.keep(message);
    this.dropAnswers();
    return true;
  }

  /**
   * Room for `more` kept messages at once: a history walk keeps ~1,000 messages, and
   * growing the array one push at a time allocated three times that (measured).
   */
  reserve(more: number): void {
    if (this.keptCount + more <= this.kept.length) return;
    const larger = new Array<T>(this.keptCount + more);
    for (let i = 0; i < this.keptCount; i++) larger[i] = this.kept[i]!;
    this.kept = larger;
  }

  /** Into the reserved room, or one past the end (the array grows). */
  private keep(message: T): void {
    this.kept[this.keptCount++] = message;
  }

  private dropAnswers(): void {
    if (this.answers.length) this.answers = [];
    this.answerTokens = 0;
  }

  /** What a walk with `budget` (at most this walk's) keeps, oldest first, and its tokens. */
  selectedWithin(budget: number): { messages: T[]; tokens: number } {
    const kept = this.kept;
    let end = this.keptCount;
    let tokens = this.used;
    if (budget < this.used) {
      // The same units, newest first, up to the first that does not fit.
      end = 0;
      tokens = 0;
      let unit = 0;
      for (let i = 0; i < this.keptCount; i++) {
        const message = kept[i]!;
        unit += message.tokens;
        if (message.role === 'tool') continue;
        if (tokens + unit > budget) break;
        tokens += unit;
        unit = 0;
        end = i + 1;
      }
    }
    const messages = new Array<T>(end);
    for (let i = 0; i < end; i++) messages[i] = kept[end - 1 - i]!;
    return { messages, tokens };
  }

  /** Enough rows for the rest of the budget at the average size so far (plus a margin). */
  wantMore(): number {
    if (!this.seen) return Math.min(MAX_PAGE, Math.max(MIN_PAGE, Math.ceil(this.budget / TYPICAL_MESSAGE_TOKENS)));
    const average = Math.max(MIN_MESSAGE_TOKENS, this.seenTokens / this.seen);
    return Math.min(MAX_PAGE, Math.max(MIN_PAGE, Math.ceil(((this.budget - this.used) / average) * 1.25)));
  }
}

/** Walks `source` until the budget is reached or the messages run out. */
export async function walkHistory<T extends HistoryEntry>(source: HistorySource<T>, budget: number): Promise<HistoryWalk<T>> {
  const walk = new HistoryWalk<T>(budget);
  for (;;) {
    const batch = await source(walk.wantMore());
    if (!batch.length) return walk;
    walk.reserve(batch.length);
    for (const message of batch) if (!walk.add(message)) return walk;
  }
}

/** A stored message as the chat completions API takes it. */
export function toModelMessage(message: HistoryEntry): ChatCompletionMessageParam {
  switch (message.role) {
    case 'tool':
      return { role: 'tool', tool_call_id: message.toolCallId ?? '', content: message.content ?? '' };
    case 'assistant':
      return message.toolCalls?.length
        ? { role: 'assistant', content: message.content, tool_calls: message.toolCalls }
        : { role: 'assistant', content: message.content ?? '' };
    case 'system':
      return { role: 'system', content: message.content ?? '' };
    case 'user':
      return { role: 'user', content: message.content ?? '' };
  }
}
