import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CallOptions } from '../upstream/model-call.js';
import { abortOnDisconnect } from './client-disconnect.js';

/**
 * What a route hands a service for its model calls: the abort signal (client gone,
 * shutdown), the request id sent upstream, and the key's token budget.
 */
export function modelCallOptions(
  request: FastifyRequest,
  reply: FastifyReply,
  signal: AbortSignal = abortOnDisconnect(reply),
): CallOptions & { signal: AbortSignal } {
  return { signal, requestId: String(request.id), budget: request.tokenBudget };
}
