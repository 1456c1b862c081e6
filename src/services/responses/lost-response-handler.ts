import type { LostStreamHandler } from '../../streams/stream-hub.js';
import type { ResponsesService } from './responses-service.js';

/**
 * Settles a background response whose producing instance died: it is stored incomplete with
 * the text rebuilt from its logged output_text deltas (every delta any reader received), and
 * readers get a last `response.failed` event saying the stream was lost.
 */
export function lostResponseHandler(responses: Pick<ResponsesService, 'settleLost'>): LostStreamHandler {
  return {
    async settle(spec, events) {
      const responseId = spec.context['responseId'];
      if (responseId) await responses.settleLost(spec.userId, responseId, events);
    },
    lostEvent(spec, lastSeq) {
      const event = {
        type: 'response.failed',
        // Hub seqs are sequence numbers + 1: the next sequence number is the last seq.
        sequence_number: lastSeq,
        response: {
          id: spec.context['responseId'] ?? null,
          object: 'response',
          status: 'incomplete',
          error: { code: 'stream_lost', message: 'The instance producing this response stopped before it ended' },
          output: [],
        },
      };
      return { event: event.type, data: JSON.stringify(event) };
    },
  };
}
