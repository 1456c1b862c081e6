import Fastify, { type FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Config } from './config/config.js';
import { authenticate } from './http/auth.js';
import { registerCors } from './http/cors.js';
import { registerDocs } from './http/docs.js';
import { BODY_LIMIT_BYTES, clientErrorHandler, frameworkErrors, registerErrorHandling } from './http/error-handler.js';
import { loggerOptions, RequestLogController } from './http/logger.js';
import { registerMetrics } from './http/http-metrics.js';
import { registerModelCallLimits } from './http/model-call-limits.js';
import { requestId } from './http/request-id.js';
import { refuseNulCharacters } from './http/schemas.js';
import { registerGracefulClose } from './http/shutdown.js';
import { playgroundRoutes } from './http/playground.js';
import { agentRoutes } from './http/routes/agent.js';
import { chatRoutes } from './http/routes/chat.js';
import { conversationRoutes } from './http/routes/conversations.js';
import { healthRoutes } from './http/routes/health.js';
import { openaiCompatibleRoutes } from './http/routes/openai-compatible.js';
import { adminRoutes } from './http/routes/admin.js';
import { usageRoutes } from './http/routes/usage.js';
import { responseRoutes } from './http/routes/responses.js';
import { v1ConversationRoutes } from './http/routes/v1-conversations.js';
import { searchRoutes } from './http/routes/search.js';
import { streamRoutes } from './http/routes/streams.js';
import { taskRoutes } from './http/routes/tasks.js';
import { connectRedis } from './limits/redis-connection.js';
import { createMetrics } from './observability/metrics.js';
import { modelCallObserver } from './observability/model-call-observer.js';
import { readinessService } from './services/readiness-service.js';
import { createServices } from './services/services.js';
import type { Storage } from './storage/storage.js';
import { providerTransport } from './upstream/transport.js';
import { version } from './shared/version.js';

interface AppOptions {
  config: Config;
  storage: Storage;
  /** Where log lines go; stdout by default. Tests pass a stream to read them. */
  logStream?: DestinationStream;
}

/** Builds the whole application: plugins, then services, then routes. The caller owns `storage`. */
export async function buildApp({ config, storage, logStream }: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: logStream ? { ...loggerOptions(config.logLevel), stream: logStream } : loggerOptions(config.logLevel),
    bodyLimit: BODY_LIMIT_BYTES,
    genReqId: requestId,
    logController: new RequestLogController(),
    routerOptions: { ignoreTrailingSlash: true },
    frameworkErrors,
    clientErrorHandler,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorateRequest('user', null as never);
  app.decorateRequest('apiKeyHash', '');
  // The API speaks JSON only; anything else answers 415 rather than a confusing 422.
  app.removeContentTypeParser('text/plain');

  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  registerErrorHandling(app);
  app.addHook('preValidation', refuseNulCharacters);
  registerGracefulClose(app, config.shutdownGraceMs);
  await registerCors(app, config.corsOrigins);
  await registerDocs(app, version);
  const metrics = config.metricsEnabled ? createMetrics() : undefined;
  registerMetrics(app, metrics);
  const redis = config.redisUrl ? await connectRedis(config.redisUrl, app.log, config.rateLimit.failOpen) : undefined;
  if (redis) app.addHook('onClose', async () => redis.close());
  await registerModelCallLimits(app, { config, redis, metrics });

  const transport = providerTransport(config.openai);
  if (transport) app.addHook('onClose', async () => transport.close());
  const services = await createServices({
    config,
    storage,
    transport,
    observeModelCall: modelCallObserver(app.log, metrics),
    redis,
    shutdownSignal: app.shutdownSignal,
    log: app.log,
  });
  // Streams with nobody attached (background, resumable in their grace) hold no connection: close waits for them.
  app.addHook('onClose', async () => {
    await services.streams.drain();
    await services.streams.close();
  });
  metrics?.watchSearchIndex(services.search.indexBytes);

  await app.register(healthRoutes({ readiness: readinessService({ storage, redis }) }));
  await app.register(adminRoutes({ adminApiKey: config.adminApiKey, users: services.users, usage: services.usage }));
  await app.register(playgroundRoutes());
  await app.register(async (authenticated) => {
    authenticated.addHook('onRequest', authenticate(services.users, services.jwt));
    await authenticated.register(conversationRoutes(services));
    await authenticated.register(taskRoutes(services));
    await authenticated.register(chatRoutes(services));
    await authenticated.register(agentRoutes(services));
    await authenticated.register(streamRoutes(services));
    await authenticated.register(searchRoutes(services));
    await authenticated.register(openaiCompatibleRoutes(services));
    await authenticated.register(usageRoutes(services));
    await authenticated.register(responseRoutes(services));
    await authenticated.register(v1ConversationRoutes(services));
  });
  // The usage ledger writes what is left on close: onClose hooks run last-added first, so this
  // one runs after the embedding worker's (below) stopped, and before the caller closes storage.
  app.addHook('onReady', async () => services.ledger.start(app.log));
  app.addHook('onClose', async () => services.ledger.stop());
  // The embedding worker runs while the app does; closing stops it (an embedding request in flight is aborted).
  app.addHook('onReady', async () => services.embeddings.start(app.log));
  app.addHook('onClose', async () => services.embeddings.stop());
  return app;
}
