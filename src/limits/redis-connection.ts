import { type ChainableCommander, Redis } from 'ioredis';
import type { FastifyBaseLogger } from 'fastify';

/**
 * The Redis connection shared limits go through. Tuned so that Redis trouble
 * never holds a request: commands fail at once while disconnected (no offline
 * queue), connecting gives up after a second, a command is not retried, and the
 * client keeps reconnecting in the background. An outage is logged once when it
 * starts and once when it ends, never per request; ioredis' 'error' events always
 * have a listener, so they never become an uncaught exception.
 */
export interface RedisConnection {
  readonly client: Redis;
  /** Called by users of the client when a command failed: logs once per outage. */
  reportFailure(error: unknown): void;
  close(): Promise<void>;
}

export async function connectRedis(url: string, log: FastifyBaseLogger, failOpen: boolean): Promise<RedisConnection> {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    connectTimeout: 1000,
    commandTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  let down = false;
  const reportFailure = (error: unknown) => {
    if (down) return;
    down = true;
    log.warn(
      { err: error instanceof Error ? { message: error.message } : String(error) },
      `redis unavailable; rate limits ${failOpen ? 'are not enforced (RATE_LIMIT_FAIL_OPEN=true)' : 'refuse model calls with 503 (RATE_LIMIT_FAIL_OPEN=false)'} until it is back`,
    );
  };
  client.on('error', reportFailure);
  client.on('ready', () => {
    if (!down) return;
    down = false;
    log.info('redis reachable again; rate limits are shared again');
  });
  // Start-up does not wait for Redis to come back: the limits' fail-open/closed rule covers the gap.
  await client.connect().catch(reportFailure);
  return {
    client,
    reportFailure,
    async close() {
      client.removeAllListeners('ready');
      await client.quit().catch(() => client.disconnect());
    },
  };
}

/** What a Redis-backed store needs of a client to define its Lua commands. */
export interface CommandDefiner {
  defineCommand(name: string, definition: { numberOfKeys?: number; lua: string }): void;
}

/** A client whose commands of one event-loop turn go to Redis together (see perTurnPipeline). */
export interface TurnPipeline extends CommandDefiner {
  /** Queues a command (built in, or defined through this) for this turn's pipeline; resolves with its reply. */
  call(name: string, ...args: Array<string | number>): Promise<unknown>;
}

/**
 * A stand-in for `client` whose commands during one turn of the event loop go to Redis
 * together, as one pipeline, at the turn's end: under load, one write and one read for
 * many requests' limit checks instead of a round trip each (measured:
 * bench/limiter-overhead.ts). ioredis' own auto-pipelining batches only within one
 * tick, which is one request here, and measured no better. Each command still gets its
 * own reply or error, and commandTimeout still applies to each.
 *
 * Commands defined through it (`defineCommand`, as @fastify/rate-limit's store does)
 * also appear on it as methods taking a callback, which is how that store calls them.
 */
export function perTurnPipeline(client: Redis): TurnPipeline {
  let pipeline: ChainableCommander | undefined;
  const current = (): Record<string, (...args: unknown[]) => unknown> => {
    if (!pipeline) {
      pipeline = client.pipeline();
      setImmediate(() => {
        const full = pipeline!;
        pipeline = undefined;
        // Failures reach each command's callback; the pipeline's own promise has nothing more to say.
        full.exec().catch(() => {});
      });
    }
    return pipeline as unknown as Record<string, (...args: unknown[]) => unknown>;
  };
  const standIn: Record<string, unknown> & TurnPipeline = {
    defineCommand(name, definition) {
      client.defineCommand(name, definition);
      standIn[name] = (...args: unknown[]) => current()[name]!(...args);
    },
    call: (name, ...args) =>
      new Promise((resolve, reject) => {
        current()[name]!(...args, (error: Error | null, reply: unknown) => (error ? reject(error) : resolve(reply)));
      }),
  };
  return standIn;
}
