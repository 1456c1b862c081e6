import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config/config.js';
import type { RedisConnection } from '../limits/redis-connection.js';
import { streamHub } from '../streams/open-stream-hub.js';
import type { Storage } from '../storage/storage.js';
import { chatModel } from '../upstream/chat-model.js';
import { embeddingModel } from '../upstream/embedding-model.js';
import type { ModelCallObserver } from '../upstream/model-call.js';
import type { Transport } from '../upstream/transport.js';
import { agentService } from './agent/agent-service.js';
import { taskTools } from './agent/tools.js';
import { chatService } from './chat-service.js';
import { historyCache } from './history-cache.js';
import { lostReplyHandler } from './lost-reply-handler.js';
import { loadTokenCounter } from './token-counter.js';
import { conversationService } from './conversation-service.js';
import { embeddingWorker } from './embedding-worker.js';
import { gatewayService } from './gateway-service.js';
import { conversationItemsService } from './responses/conversations.js';
import { lostResponseHandler } from './responses/lost-response-handler.js';
import { responsesService } from './responses/responses-service.js';
import { searchService } from './search-service.js';
import { taskService } from './task-service.js';
import { vectorIndexCache } from './vector-index/vector-index-cache.js';
import { userService } from './user-service.js';
import { jwtVerifier } from './jwt-verifier.js';
import { usageLedger } from './usage-ledger.js';
import { usageService } from './usage-service.js';

/** The application's services, built once from their dependencies. */
export async function createServices(deps: {
  config: Config;
  storage: Storage;
  /** The one way to the model provider; undefined when none is configured. */
  transport: Transport | undefined;
  /** Told about every finished model call (metrics, the per-call log line). */
  observeModelCall?: ModelCallObserver | undefined;
  /** Shared with other instances when set: stream logs live in Redis. */
  redis?: RedisConnection | undefined;
  /** Fires when the shutdown grace is over: running streams stop. */
  shutdownSignal?: AbortSignal | undefined;
  log?: FastifyBaseLogger | undefined;
}) {
  const { config, storage } = deps;
  const tokens = await loadTokenCounter(config.openai.model);
  const ledger = usageLedger({ usage: storage.usage, flushMs: config.usageLedger.flushMs });
  const observe: ModelCallObserver | undefined = config.usageLedger.enabled
    ? (call) => {
        deps.observeModelCall?.(call);
        ledger.record(call);
      }
    : deps.observeModelCall;
  const model = chatModel(deps.transport, config.openai, observe);
  const embedder = embeddingModel(deps.transport, config.openai, observe);
  const embeddings = embeddingWorker({ storage, model: embedder, options: config.embeddingWorker });
  const tasks = taskService(storage, embeddings);
  const history = historyCache({ storage, coverTokens: config.historyMaxTokens });
  const chat = chatService({ storage, model, tokens, history, config });
  const streams = streamHub(config, deps.redis, { shutdownSignal: deps.shutdownSignal, log: deps.log });
  const lostReply = lostReplyHandler(chat);
  streams.onLost('chat', lostReply);
  streams.onLost('agent', lostReply);
  const responses = responsesService({ storage, model, tokens, config, hub: streams, history });
  streams.onLost('response', lostResponseHandler(responses));
  const search = searchService({ storage, model: embedder, index: vectorIndexCache(storage.embeddings, config.searchIndex) });
  return {
    users: userService(storage),
    /** Verifies the app's own JWTs (AUTH_JWKS_URL); undefined when not configured. */
    jwt: config.jwt && jwtVerifier(config.jwt),
    /** Tokens and requests per (user, model, day); started and stopped with the app. */
    ledger,
    usage: usageService(storage, ledger),
    conversations: conversationService(storage, history),
    tasks,
    /** Keeps task embeddings current; started and stopped with the app. */
    embeddings,
    search,
    chat,
    /** The OpenAI-compatible relay (/v1). */
    gateway: gatewayService({ transport: deps.transport, observe, defaultMaxTokens: config.openai.maxTokens }),
    agent: agentService({ chat, model, tools: taskTools(tasks, search), config }),
    /** Every SSE stream's event log (resumable streams); drained and closed with the app. */
    streams,
    /** The Responses API (/v1/responses) and OpenAI's Conversations API over our conversations. */
    responses,
    conversationItems: conversationItemsService({ storage, tokens, history }),
  };
}
