import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ModelCallObservation } from '../upstream/model-call.js';

/**
 * The service's Prometheus metrics on a registry of its own (not prom-client's
 * global one), so every app built in one process — tests build many — counts
 * for itself. Labels are low-cardinality by construction: route templates,
 * never raw URLs or ids.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const openaiRequests = new Counter({
    name: 'openai_requests_total',
    help: 'Upstream model calls by outcome: "success" or the error code',
    labelNames: ['model', 'status'] as const,
    registers: [registry],
  });
  const openaiTokens = new Counter({
    name: 'openai_tokens_total',
    help: 'Model tokens used, by type (prompt or completion)',
    labelNames: ['model', 'type'] as const,
    registers: [registry],
  });
  const openaiDuration = new Histogram({
    name: 'openai_duration_seconds',
    help: 'Upstream model call duration, retries included (streams: until the stream ends)',
    labelNames: ['model'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  });
  const httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route template and status (streams: until the stream ends)',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const sseActiveStreams = new Gauge({
    name: 'sse_active_streams',
    help: 'Server-sent event streams currently open',
    registers: [registry],
  });
  let searchIndexBytes = () => 0;
  new Gauge({
    name: 'search_index_bytes',
    help: 'Memory held by the in-memory search indexes (bounded by SEARCH_INDEX_MEMORY_MB)',
    registers: [registry],
    collect() {
      this.set(searchIndexBytes());
    },
  });
  const rateLimitRejections = new Counter({
    name: 'rate_limit_rejections_total',
    help: 'Requests refused by our own limits: kind "requests" (RATE_LIMIT_PER_MINUTE) or "tokens" (TOKENS_PER_MINUTE)',
    labelNames: ['kind'] as const,
    registers: [registry],
  });

  return {
    registry,

    /** One finished upstream call (complete, or a stream once it ended). */
    modelCall(call: ModelCallObservation): void {
      openaiRequests.inc({ model: call.model, status: call.outcome });
      openaiDuration.observe({ model: call.model }, call.durationMs / 1000);
      if (call.usage) {
        openaiTokens.inc({ model: call.model, type: 'prompt' }, call.usage.prompt_tokens);
        openaiTokens.inc({ model: call.model, type: 'completion' }, call.usage.completion_tokens);
      }
    },

    httpRequest(method: string, route: string, status: number, durationMs: number): void {
      const labels = { method, route, status: String(status) };
      httpRequests.inc(labels);
      httpDuration.observe(labels, durationMs / 1000);
    },

    sseStreamOpened: () => sseActiveStreams.inc(),
    sseStreamClosed: () => sseActiveStreams.dec(),
    rateLimitRejected: (kind: 'requests' | 'tokens') => rateLimitRejections.inc({ kind }),
    /** Where search_index_bytes is read from at each scrape. */
    watchSearchIndex(bytes: () => number): void {
      searchIndexBytes = bytes;
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
