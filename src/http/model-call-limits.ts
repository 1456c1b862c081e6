import rateLimit, { type FastifyRateLimitStore } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler, RouteOptions } from 'fastify';
import type { Config } from '../config/config.js';
import { RateLimitedError, ServiceUnavailableError } from '../errors.js';
import { perTurnPipeline, type RedisConnection } from '../limits/redis-connection.js';
import { RedisRequestLimitStore } from '../limits/request-limit-store.js';
import { tokenBudgets } from '../limits/token-budget.js';
import { LocalTokenBudgetStore, RedisTokenBudgetStore, type TokenBudgetStore } from '../limits/token-budget-store.js';
import type { Metrics } from '../observability/metrics.js';
import type { TokenBudget } from '../upstream/model-call.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * This route calls the model: RATE_LIMIT_PER_MINUTE and TOKENS_PER_MINUTE apply to it,
     * per API key. Only valid on routes behind `authenticate`, since the limits are keyed
     * by the caller's key.
     */
    modelCall?: boolean;
  }
  interface FastifyRequest {
    /** This request's key's TOKENS_PER_MINUTE, for its model calls to reserve from; set on `modelCall` routes when a budget is configured. */
    tokenBudget: TokenBudget | undefined;
  }
}

const limiterDown = () => new ServiceUnavailableError('Rate limiting is unavailable (Redis is not answering); try again shortly');

/**
 * Per-API-key limits on routes that call the model (`config: { modelCall: true }`), or per
 * user where the user has its own (admin API):
 * RATE_LIMIT_PER_MINUTE requests through @fastify/rate-limit, and the TOKENS_PER_MINUTE
 * budget that each model call of the request reserves from (limits/token-budget.ts). Both
 * hooks run at route level on onRequest, so after `authenticate` (an instance hook) and
 * before the body is read; other routes get no hook at all. With REDIS_URL the counts live
 * in Redis and N instances together allow exactly the limit.
 */
export async function registerModelCallLimits(
  app: FastifyInstance,
  deps: { config: Config; redis: RedisConnection | undefined; metrics: Metrics | undefined },
): Promise<void> {
  app.decorateRequest('tokenBudget', undefined);
  const { config, redis, metrics } = deps;
  const { perMinute, tokensPerMinute, failOpen } = config.rateLimit;
  if (!config.rateLimit.enabled) return;
  // A user's own limit (admin API) is the user's: counted per user across all its keys. The
  // defaults stay per credential (API key, or a JWT's user). The user row, limits included,
  // is read on every request (auth.ts), so a change applies on every instance at once.
  const countedBy = (request: FastifyRequest, own: number | null | undefined) =>
    own != null ? `user:${request.user.id}` : request.apiKeyHash;
  // Both limits' Redis commands of one event-loop turn go to Redis as one pipeline.
  const pipeline = redis && perTurnPipeline(redis.client);

  await app.register(rateLimit, {
    global: false,
    max: (request: FastifyRequest) => request.user.rateLimitPerMinute ?? perMinute,
    timeWindow: 60_000,
    // RateLimit-Limit / -Remaining / -Reset (IETF draft), on every limited response.
    enableDraftSpec: true,
    keyGenerator: (request: FastifyRequest) => countedBy(request, request.user.rateLimitPerMinute),
    skipOnError: failOpen,
    ...(pipeline && {
      // The plugin constructs the store itself; this one is made already.
      store: function SharedStore() {
        return new RedisRequestLimitStore(pipeline, `${config.redisKeyPrefix}rl:`, (error) => {
          redis!.reportFailure(error);
          return limiterDown();
        });
      } as unknown as new () => FastifyRateLimitStore,
    }),
    onExceeded: () => metrics?.rateLimitRejected('requests'),
    // Thrown, so the error handler writes our body; the plugin already set Retry-After and RateLimit-*.
    errorResponseBuilder: (_request, context) =>
      new RateLimitedError(Math.max(1, Math.ceil(context.ttl / 1000)), `Rate limit of ${context.max} requests per minute exceeded`),
  });
  const hooks: onRequestAsyncHookHandler[] = [app.rateLimit() as onRequestAsyncHookHandler];

  const store: TokenBudgetStore = pipeline
    ? new RedisTokenBudgetStore(pipeline, `${config.redisKeyPrefix}tokens:`)
    : new LocalTokenBudgetStore();
  const budgetOf = tokenBudgets(store, {
    failOpen,
    onFailure: (error) => redis?.reportFailure(error),
    refused: () => metrics?.rateLimitRejected('tokens'),
    unavailable: limiterDown,
  });
  hooks.push(async function attachTokenBudget(request) {
    const own = request.user.tokensPerMinute;
    const budget = own ?? tokensPerMinute;
    if (budget !== undefined) request.tokenBudget = budgetOf(countedBy(request, own), budget);
  });

  app.addHook('onRoute', (route: RouteOptions) => {
    if (!route.config?.modelCall) return;
    const existing = route.onRequest ? [route.onRequest].flat() : [];
    route.onRequest = [...existing, ...hooks] as RouteOptions['onRequest'];
  });
}
