import { NotFoundError } from '../errors.js';
import { derivedId } from '../shared/ids.js';
import type { LoggedEvent, LostStreamHandler, StreamSpec } from '../streams/stream-hub.js';
import type { ChatService } from './chat-service.js';

/**
 * Settles a /chat/stream or /agent/stream whose producing instance died: the reply is
 * stored incomplete with the text rebuilt from the logged content deltas, so it holds
 * every delta any reader received. The text is the deltas since the last tool result (the
 * agent stores each tool-calling step with its answers as it goes).
 *
 * Idempotent by identity: the reply is stored under the id the producer uses for it (the
 * stream's `replyId`; for the agent, that of the step the deltas belong to, counted from
 * the tool results), and only if absent. A producer that stored its reply and died before
 * logging the end, or a second instance settling again after the first died mid-settle,
 * leaves one copy. A log that holds its usage, [DONE] or an error event was stored by the
 * producer itself: nothing to do.
 */
export function lostReplyHandler(chat: Pick<ChatService, 'appendMessage' | 'appendMessageIfAbsent' | 'countMessage'>): LostStreamHandler {
  return {
    async settle(spec: StreamSpec, events: readonly LoggedEvent[]): Promise<void> {
      const conversationId = spec.context['conversationId'];
      if (!conversationId) return;
      let text = '';
      let step = 0;
      let afterResults = false;
      for (const { data } of events) {
        if (data === '[DONE]') return;
        const event = JSON.parse(data) as { content?: unknown; usage?: unknown; error?: unknown; tool_call?: unknown; tool_result?: unknown };
        if (event.usage !== undefined || event.error !== undefined) return;
        if (event.tool_result !== undefined) {
          text = '';
          afterResults = true;
          continue;
        }
        if (afterResults && (event.content !== undefined || event.tool_call !== undefined)) {
          step++;
          afterResults = false;
        }
        if (typeof event.content === 'string') text += event.content;
      }
      if (!text) return;
      const replyId = spec.context['replyId'];
      const fields = { role: 'assistant' as const, content: text, tokens: chat.countMessage(text), status: 'incomplete' as const };
      try {
        // A log opened before reply ids were carried has none: stored as before.
        if (replyId) await chat.appendMessageIfAbsent(conversationId, { ...fields, id: derivedId(replyId, step) });
        else await chat.appendMessage(conversationId, fields);
      } catch (error) {
        // Deleted by its owner meanwhile: nothing to keep.
        if (!(error instanceof NotFoundError)) throw error;
      }
    },
    lostEvent: () => ({
      data: JSON.stringify({ error: 'The instance producing this stream stopped before it ended', code: 'stream_lost' }),
    }),
  };
}
