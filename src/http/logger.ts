import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { LoggerOptions } from 'pino';

/**
 * Paths pino blanks out wherever they appear: credentials must never reach a log,
 * even when an object carrying them is logged by mistake.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'headers["x-api-key"]',
  'authorization',
  'apiKey',
  'api_key',
  '*.apiKey',
  '*.api_key',
  'config.openai.apiKey',
  '*.authorization',
  '*.headers.authorization',
  '*.headers.cookie',
  'redisUrl',
  'config.redisUrl',
];

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { service: 'openai-backend' },
  };
}

/**
 * One log line per request, written when it completes: request id (from the
 * child logger), method, route template (never the raw URL), status, duration
 * and caller. Bodies and headers are not logged.
 */
export class RequestLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: reply.statusCode,
      duration_ms: Math.round(reply.elapsedTime * 100) / 100,
      user_id: request.user?.id,
    };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else reply.log.info(line, 'request');
  }
}
