import type { FastifyReply } from 'fastify';

/**
 * One AbortSignal per request that fires the moment the client goes away before
 * the response is complete, or when a shutdown's grace period is over. Passed all
 * the way down to the upstream call.
 */
export function abortOnDisconnect(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const response = reply.raw;
  const shutdown = reply.server.shutdownSignal as AbortSignal | undefined;
  const onShutdown = () => controller.abort(shutdown?.reason);
  shutdown?.addEventListener('abort', onShutdown, { once: true });
  response.once('close', () => {
    shutdown?.removeEventListener('abort', onShutdown);
    if (!response.writableFinished) controller.abort(new Error('client disconnected'));
  });
  return controller.signal;
}
