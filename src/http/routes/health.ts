import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ServiceUnavailableError } from '../../errors.js';
import type { ReadinessService } from '../../services/readiness-service.js';
import { errorResponses } from '../schemas.js';

/** Liveness and readiness. Public: load balancers call them without a key. */
export function healthRoutes(deps: { readiness: ReadinessService }): FastifyPluginAsyncZod {
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
        const { ok, failed } = await deps.readiness.check();
        for (const { check, error } of failed) {
          // Redis errors carry the connection's details; their message says enough.
          const err = check === 'redis' ? { message: String((error as Error)?.message ?? error) } : error;
          request.log.warn({ err }, `readiness check failed: ${check}`);
        }
        if (failed.length > 0) throw new ServiceUnavailableError(`Not ready: ${failed.map((f) => f.check).join(' and ')} not answering`);
        return { status: 'ready' as const, checks: Object.fromEntries(ok.map((check) => [check, 'ok' as const])) };
      },
    );
  };
}
