import { setMaxListeners } from 'node:events';
import type { FastifyInstance } from 'fastify';

declare module 'fastify' {
  interface FastifyInstance {
    /** Fires when the shutdown grace period is over: in-flight model calls and streams stop. */
    shutdownSignal: AbortSignal;
  }
}

/**
 * Graceful close: `app.close()` stops accepting connections at once and waits for
 * in-flight requests and streams; after `graceMs` the shutdown signal aborts what is
 * left (every request's abort signal follows it down to the upstream call, and a cut
 * stream's reply is stored as incomplete). While draining, connections whose request
 * has finished are closed, so idle keep-alive sockets do not hold the exit.
 */
export function registerGracefulClose(app: FastifyInstance, graceMs: number): void {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal); // one listener per in-flight request
  app.decorate('shutdownSignal', controller.signal);

  let grace: NodeJS.Timeout | undefined;
  let reaper: NodeJS.Timeout | undefined;
  app.addHook('preClose', (done) => {
    grace = setTimeout(() => {
      app.log.warn({ grace_ms: graceMs }, 'shutdown grace period over; aborting in-flight requests');
      controller.abort(new Error('server shutting down'));
    }, graceMs);
    reaper = setInterval(() => app.server.closeIdleConnections(), 100);
    done();
  });
  app.addHook('onClose', (_app, done) => {
    clearTimeout(grace);
    clearInterval(reaper);
    done();
  });
}
