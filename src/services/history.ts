import type { ChatCompletionMessageParam } from '../upstream/chat-model.js';
import type { Message } from '../storage/storage.js';

/** Reads a conversation's messages newest first, strictly before `beforeSeq`. */
export type NewestFirstReader = (options: { limit: number; beforeSeq?: number | undefined }) => Promise<Message[]>;

const FIRST_PAGE = 32;
const MAX_PAGE = 512;

/**
 * The newest messages whose stored token counts fit `budget`, oldest first.
 * Reads newest-first in growing pages only as far as the budget reaches, so the
 * cost follows the budget, not the conversation's length; nothing is re-tokenised.
 * An assistant message with tool_calls and the tool messages answering it are one
 * unit: kept or dropped together, so the history stays one the API accepts.
 */
export async function selectHistory(read: NewestFirstReader, budget: number): Promise<Message[]> {
  const units: Message[][] = [];
  let used = 0;
  let answers: Message[] = []; // tool messages waiting for the assistant message that called them
  let beforeSeq: number | undefined;
  let limit = FIRST_PAGE;
  for (;;) {
    const page = await read({ limit, beforeSeq });
    for (const message of page) {
      if (message.role === 'tool') {
        answers.unshift(message);
        continue;
      }
      let unit: Message[];
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
    limit = Math.min(limit * 2, MAX_PAGE);
  }
}

/** A stored message as the chat completions API takes it. */
export function toModelMessage(message: Message): ChatCompletionMessageParam {
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
