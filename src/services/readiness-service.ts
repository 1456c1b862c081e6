import type { RedisConnection } from '../limits/redis-connection.js';
import type { Storage } from '../storage/storage.js';

const REDIS_PING_TIMEOUT_MS = 1000;

interface ReadinessReport {
  /** The checks that answered: database always, redis when configured. */
  ok: string[];
  /** The checks that did not, with what went wrong (for the log). */
  failed: Array<{ check: string; error: unknown }>;
}

/** Whether this instance can serve: its database (and Redis, when configured) answer. */
export function readinessService(deps: { storage: Storage; redis?: RedisConnection | undefined }) {
  return {
    async check(): Promise<ReadinessReport> {
      const redis = deps.redis?.client;
      const checks: Array<[string, Promise<unknown>]> = [['database', deps.storage.ping()]];
      if (redis) {
        const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('PING timed out')), REDIS_PING_TIMEOUT_MS).unref());
        checks.push(['redis', Promise.race([redis.ping(), timeout])]);
      }
      const results = await Promise.allSettled(checks.map(([, check]) => check));
      const report: ReadinessReport = { ok: [], failed: [] };
      results.forEach((result, i) => {
        const check = checks[i]![0];
        if (result.status === 'fulfilled') report.ok.push(check);
        else report.failed.push({ check, error: result.reason });
      });
      return report;
    },
  };
}

export type ReadinessService = ReturnType<typeof readinessService>;
