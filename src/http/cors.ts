import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';

/**
 * Cross-origin access for exactly the origins in CORS_ORIGINS: no wildcard, so
 * credentials can be allowed. With none configured the plugin is not registered
 * and no response carries CORS headers. Preflights are answered by the plugin's
 * own OPTIONS route, outside the authenticated scope, so they need no key.
 */
export async function registerCors(app: FastifyInstance, origins: readonly string[]): Promise<void> {
  if (origins.length === 0) return;
  const allowed = new Set(origins);
  await app.register(cors, {
    // false (rather than a list) for other origins: the plugin then adds no CORS header at all,
    // where a list would still send Allow-Credentials and Expose-Headers to any origin.
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin) ? origin : false),
    credentials: true,
    methods: ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['authorization', 'content-type', 'x-request-id'],
    exposedHeaders: ['x-request-id', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'],
    maxAge: 600,
  });
}
