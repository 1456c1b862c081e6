import type { Config } from '../config/config.js';
import type { RedisConnection } from '../limits/redis-connection.js';
import type { FastifyBaseLogger } from 'fastify';
import { memoryStreamHub } from './memory-hub.js';
import { redisStreamHub } from './redis-hub.js';
import type { StreamHub } from './stream-hub.js';

/**
 * The stream hub for this deployment: Redis Streams when REDIS_URL is set (any instance
 * serves any reader), else process memory. `shutdownSignal` (the end of the shutdown
 * grace) aborts every running producer.
 */
export function streamHub(
  config: Pick<Config, 'streams' | 'redisKeyPrefix'>,
  redis?: RedisConnection,
  options: { shutdownSignal?: AbortSignal | undefined; log?: FastifyBaseLogger | undefined } = {},
): StreamHub {
  const settings = { retentionMs: config.streams.retentionMs, graceMs: config.streams.resumeGraceMs, shutdownSignal: options.shutdownSignal };
  if (!redis) return memoryStreamHub(settings);
  return redisStreamHub(redis, { ...settings, leaseMs: config.streams.leaseMs, keyPrefix: config.redisKeyPrefix, log: options.log });
}
