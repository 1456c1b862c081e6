import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Storage } from '../../storage/storage.js';
import { errorResponses } from '../schemas.js';
import { ServiceUnavailableError } from '../../errors.js';

/** Liveness and readiness. Public: load balancers call them without a key. */
export function healthRoutes(deps: { storage: Storage }): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/health',
      {
        schema: {
          tags: ['health'],
          summary: 'Liveness: the process answers',
          response: { 200: z.object({ status: z.literal('healthy') }) },
        },
      },
      async () => ({ status: 'healthy' as const }),
    );

    app.get(
      '/ready',
      {
        schema: {
          tags: ['health'],
          summary: 'Readiness: the database (and Redis, when configured) answers',
          response: { 200: z.object({ status: z.literal('ready'), checks: z.record(z.string(), z.literal('ok')) }), ...errorResponses(503) },
        },
      },
      async (request) => {
        try {
          await deps.storage.ping();
        } catch (error) {
          request.log.warn({ err: error }, 'readiness check failed: database');
          throw new ServiceUnavailableError('Database is not answering');
        }
        return { status: 'ready' as const, checks: { database: 'ok' as const } };
      },
    );
  };
}
