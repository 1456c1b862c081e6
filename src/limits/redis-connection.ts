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

/** A Lua script run as one Redis command: `numberOfKeys` keys, then its arguments. */
export interface LuaCommand {
  numberOfKeys: number;
  lua: string;
}

/** Commands that go to Redis together: every command of one event-loop turn, as one pipeline. */
export interface TurnPipeline {
  /** Defines a Lua command on the client (ioredis' defineCommand), callable through `call`. */
  defineCommand(name: string, command: LuaCommand): void;
  /** Queues a command (built in, or defined above) for this turn's pipeline; resolves with its reply. */
  call(name: string, ...args: Array<string | number>): Promise<unknown>;
}

/**
 * Commands queued during one turn of the event loop go to Redis as one pipeline at the
 * turn's end: under load, one write and one read for many requests' limit checks instead
 * of a round trip each (bench/limiter-overhead.ts, c=32: the Redis limiter cost 17.4% of
 * /chat's throughput with a round trip each, 10.3% with this). ioredis' own
 * enableAutoPipelining batches only within one tick, which is one request here, and
 * measured no better. Each command gets its own reply or error; commandTimeout applies
 * to each. Only ioredis' public API: `pipeline()`, defined commands on it, `exec()`.
 */
export function perTurnPipeline(client: Redis): TurnPipeline {
  let pipeline: ChainableCommander | undefined;
  const current = (): ChainableCommander => {
    if (!pipeline) {
      const started = client.pipeline();
      pipeline = started;
      setImmediate(() => {
        pipeline = undefined;
        // Failures reach each command's callback; the pipeline's own promise has nothing more to say.
        started.exec().catch(() => {});
      });
    }
    return pipeline;
  };
  return {
    defineCommand: (name, command) => client.defineCommand(name, command),
    call: (name, ...args) =>
      new Promise((resolve, reject) => {
        const queue = current() as unknown as Record<string, (...a: unknown[]) => unknown>;
        queue[name]!(...args, (error: Error | null, reply: unknown) => (error ? reject(error) : resolve(reply)));
      }),
  };
}
