import type { FastifyBaseLogger } from 'fastify';
import type { ModelCallObserver } from '../upstream/model-call.js';
import type { Metrics } from './metrics.js';

/**
 * Metrics and one info line per upstream call: model, attempts, duration, tokens and
 * outcome, under the request's id. Never the messages themselves.
 */
export function modelCallObserver(log: FastifyBaseLogger, metrics: Metrics | undefined): ModelCallObserver {
  return (call) => {
    metrics?.modelCall(call);
    log.info(
      {
        reqId: call.requestId,
        model: call.model,
        stream: call.stream,
        attempts: call.attempts,
        duration_ms: Math.round(call.durationMs * 100) / 100,
        prompt_tokens: call.usage?.prompt_tokens,
        completion_tokens: call.usage?.completion_tokens,
        outcome: call.outcome,
      },
      'upstream call',
    );
  };
}
