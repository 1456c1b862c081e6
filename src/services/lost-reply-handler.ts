import { NotFoundError } from '../errors.js';
import type { LoggedEvent, LostStreamHandler, StreamSpec } from '../streams/stream-hub.js';
import type { ChatService } from './chat-service.js';

/**
 * Settles a /chat/stream or /agent/stream whose producing instance died: the reply is
 * stored incomplete with the text rebuilt from the logged content deltas, so it holds
 * every delta any reader received. The text is the deltas since the last tool result (the
 * agent stores each tool-calling step with its answers as it goes). A log that already
 * holds its usage, [DONE] or an error event was stored by the producer itself.
 */
export function lostReplyHandler(chat: Pick<ChatService, 'appendMessage' | 'countMessage'>): LostStreamHandler {
  return {
    async settle(spec: StreamSpec, events: readonly LoggedEvent[]): Promise<void> {
      const conversationId = spec.context['conversationId'];
      if (!conversationId) return;
      let text = '';
      for (const { data } of events) {
        if (data === '[DONE]') return;
        const event = JSON.parse(data) as { content?: unknown; usage?: unknown; error?: unknown; tool_result?: unknown };
        if (event.usage !== undefined || event.error !== undefined) return;
        if (event.tool_result !== undefined) text = '';
        if (typeof event.content === 'string') text += event.content;
      }
      if (!text) return;
      try {
        await chat.appendMessage(conversationId, { role: 'assistant', content: text, tokens: chat.countMessage(text), status: 'incomplete' });
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
