import type { ChatCompletionMessageParam } from '../upstream/chat-model.js';
import type { HistoryEntry } from '../storage/storage.js';

/** Reads a conversation's messages newest first, strictly before `beforeSeq`. */
export type NewestFirstReader = (options: { limit: number; beforeSeq?: number | undefined }) => Promise<HistoryEntry[]>;

const MIN_PAGE = 32;
const MAX_PAGE = 1024;
/** A first guess at a message's size, to size the first read. */
const TYPICAL_MESSAGE_TOKENS = 24;
/** No message costs less than this (the per-message overhead plus one token). */
const MIN_MESSAGE_TOKENS = 4;

/**
 * The newest messages whose stored token counts fit `budget`, oldest first.
 * Reads newest-first only as far as the budget reaches, each page sized from the
 * average message seen so far, so the cost follows the budget, not the
 * conversation's length; nothing is re-tokenised.
 * An assistant message with tool_calls and the tool messages answering it are one
 * unit: kept or dropped together, so the history stays one the API accepts.
 */
export async function selectHistory(read: NewestFirstReader, budget: number): Promise<HistoryEntry[]> {
  const units: HistoryEntry[][] = [];
  let used = 0;
  let answers: HistoryEntry[] = []; // tool messages waiting for the assistant message that called them
  let beforeSeq: number | undefined;
  let limit = Math.min(MAX_PAGE, Math.max(MIN_PAGE, Math.ceil(budget / TYPICAL_MESSAGE_TOKENS)));
  let seen = 0;
  let seenTokens = 0;
  for (;;) {
    const page = await read({ limit, beforeSeq });
    seen += page.length;
    for (const message of page) {
      seenTokens += message.tokens;
      if (message.role === 'tool') {
        answers.unshift(message);
        continue;
      }
      let unit: HistoryEntry[];
      if (message.role === 'assistant' && message.toolCalls?.length) {
        unit = [message, ...answers];
      } else {
        // Tool answers without their call cannot be sent; a message with nothing in it need not be.
        if (!message.content) {
          answers = [];
          continue;
        }
        unit = [message];
      }
      answers = [];
      const cost = unit.reduce((sum, m) => sum + m.tokens, 0);
      if (used + cost > budget) return units.reverse().flat();
      used += cost;
      units.push(unit);
    }
    if (page.length < limit) return units.reverse().flat();
    beforeSeq = page[page.length - 1]!.seq;
    // Enough rows for the rest of the budget at the average size so far (plus a margin).
    const average = Math.max(MIN_MESSAGE_TOKENS, seenTokens / seen);
    limit = Math.min(MAX_PAGE, Math.max(MIN_PAGE, Math.ceil(((budget - used) / average) * 1.25)));
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
