import type { FastifyRateLimitStore } from '@fastify/rate-limit';
import type { LuaCommand, TurnPipeline } from './redis-connection.js';

/** One request counted in a fixed window that starts with the first: [count, ms left]. */
const COUNT_REQUEST: LuaCommand = {
  numberOfKeys: 1,
  lua: `local current = redis.call('INCR', KEYS[1])
if current == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return {current, tonumber(ARGV[1])}
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}`,
};

/**
 * RATE_LIMIT_PER_MINUTE counted in Redis, as a store for @fastify/rate-limit (its
 * documented custom `store` option: `incr` + `child`), so N instances together allow
 * exactly the limit. Counts of one event-loop turn go in one pipeline (perTurnPipeline).
 * Every route shares one counter per key (`child` is the store itself): the limit is per
 * key across all model-calling endpoints. A Redis failure goes to `onFailure`, whose
 * error the plugin sees (with skipOnError it lets the request through).
 */
export class RedisRequestLimitStore implements FastifyRateLimitStore {
  constructor(
    private readonly redis: TurnPipeline,
    private readonly prefix: string,
    private readonly onFailure: (error: unknown) => Error,
  ) {
    redis.defineCommand('oabCountRequest', COUNT_REQUEST);
  }

  incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number): void {
    this.redis.call('oabCountRequest', this.prefix + key, timeWindow).then(
      (reply) => {
        const [current, ttl] = reply as [number, number];
        callback(null, { current, ttl });
      },
      (error: unknown) => callback(this.onFailure(error)),
    );
  }

  child(): FastifyRateLimitStore {
    return this;
  }
}
