import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Storage } from '../../storage/storage.js';
import { errorResponses } from '../schemas.js';
import { ServiceUnavailableError } from '../../errors.js';
import type { RedisConnection } from '../../limits/redis-connection.js';

const REDIS_PING_TIMEOUT_MS = 1000;

/** Liveness and readiness. Public: load balancers call them without a key. */
export function healthRoutes(deps: { storage: Storage; redis?: RedisConnection | undefined }): FastifyPluginAsyncZod {
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
        const redis = deps.redis?.client;
        const [database, cache] = await Promise.allSettled([
          deps.storage.ping(),
          redis && Promise.race([
            redis.ping(),
            new Promise((_, reject) => setTimeout(() => reject(new Error('PING timed out')), REDIS_PING_TIMEOUT_MS).unref()),
          ]),
        ]);
        const failed: string[] = [];
        if (database.status === 'rejected') {
          request.log.warn({ err: database.reason }, 'readiness check failed: database');
          failed.push('database');
        }
        if (cache.status === 'rejected') {
          request.log.warn({ err: { message: String((cache.reason as Error)?.message ?? cache.reason) } }, 'readiness check failed: redis');
          failed.push('redis');
        }
        if (failed.length > 0) throw new ServiceUnavailableError(`Not ready: ${failed.join(' and ')} not answering`);
        return { status: 'ready' as const, checks: { database: 'ok' as const, ...(redis && { redis: 'ok' as const }) } };
      },
    );
  };
}
