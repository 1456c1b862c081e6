import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../observability/metrics.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's metrics; undefined when METRICS_ENABLED=false. */
    metrics: Metrics | undefined;
  }
}

/**
 * Per-request HTTP metrics by route template (`/conversations/:id`, never the raw URL;
 * "unmatched" for 404s) and the public `GET /metrics` in Prometheus text format.
 */
export function registerMetrics(app: FastifyInstance, metrics: Metrics | undefined): void {
  app.decorate('metrics', metrics);
  if (!metrics) return;
  app.addHook('onResponse', (request, reply, done) => {
    metrics.httpRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime);
    done();
  });
  app.get(
    '/metrics',
    { schema: { tags: ['health'], summary: 'Prometheus metrics: upstream calls and tokens, HTTP requests, open streams, limits, process' } },
    async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  );
}
