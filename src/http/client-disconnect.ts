import type { FastifyReply } from 'fastify';

/**
 * One AbortSignal per request that fires the moment the client goes away before
 * the response is complete. Passed all the way down to the upstream call.
 */
export function abortOnDisconnect(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const response = reply.raw;
  response.once('close', () => {
    if (!response.writableFinished) controller.abort(new Error('client disconnected'));
  });
  return controller.signal;
}
