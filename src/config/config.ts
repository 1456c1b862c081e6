import { z } from 'zod';

/**
 * Every setting of the service, read once from the environment at start-up.
 * Each entry documents its default; `loadConfig` turns the first bad value of
 * each variable into one line of a `ConfigError`.
 */
const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const num = (min: number, max: number) => z.coerce.number().min(min).max(max);
const bool = (fallback: boolean) =>
  z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no', ''], { message: 'must be true or false' }))
    .optional()
    .transform((v) => (v === undefined || v === '' ? fallback : v === 'true' || v === '1' || v === 'yes'));

const envSchema = z.object({
  /** Interface to listen on. Default: 127.0.0.1 (only this machine). */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** Port to listen on. Default: 8000. */
  PORT: int(0, 65535).default(8000),
  /** Key for the model provider. Default: none. */
  OPENAI_API_KEY: optionalString,
  /** Any OpenAI-compatible endpoint, e.g. http://127.0.0.1:8090/v1. Default: OpenAI's. */
  OPENAI_BASE_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  /** Chat model. Default: gpt-4.1-mini (a current small chat model that accepts temperature). */
  OPENAI_MODEL: z.string().min(1).default('gpt-4.1-mini'),
  /** Embedding model. Default: text-embedding-3-small. */
  OPENAI_EMBEDDING_MODEL: z.string().min(1).default('text-embedding-3-small'),
  /** Maximum completion tokens per model call. Default: 2000. */
  OPENAI_MAX_TOKENS: int(1, 1_000_000).default(2000),
  /** Sampling temperature. Default: 0.7. */
  OPENAI_TEMPERATURE: num(0, 2).default(0.7),
  /** Seconds per upstream attempt. Default: 30. */
  OPENAI_TIMEOUT: num(0.001, 3600).default(30),
  /** Retries on 429, 5xx and connection errors. Default: 3. */
  OPENAI_MAX_RETRIES: int(0, 10).default(3),
  /** `sqlite:PATH` or `postgres://…`. Default: sqlite:./data/app.db. */
  DATABASE_URL: z
    .string()
    .default('sqlite:./data/app.db')
    .refine((v) => /^sqlite:.+/.test(v) || /^postgres(ql)?:\/\/.+/.test(v), {
      message: 'must be sqlite:PATH or postgres://…',
    }),
  /** Connections per instance when DATABASE_URL is PostgreSQL. Default: 10. */
  DATABASE_POOL_SIZE: int(1, 1000).default(10),
  /** When set, rate limits are shared through Redis. Default: none (in-process). */
  REDIS_URL: optionalString.pipe(z.url({ protocol: /^rediss?$/ }).optional()),
  /** Prefix of every Redis key we write, so deployments (or test runs) can share one Redis. Default: oab: */
  REDIS_KEY_PREFIX: z.string().default('oab:'),
  /** Requests per minute per API key on model-calling endpoints. Default: 60. */
  RATE_LIMIT_PER_MINUTE: int(1, 100_000_000).default(60),
  /**
   * Whether RATE_LIMIT_PER_MINUTE and TOKENS_PER_MINUTE are enforced at all. Default: true.
   * Off only for measuring the limiter's own cost (bench/limiter-overhead.ts) or behind a gateway that limits.
   */
  RATE_LIMIT_ENABLED: bool(true),
  /**
   * When Redis (REDIS_URL) does not answer: true lets requests through unlimited (logged once per outage),
   * false refuses model-calling requests with 503 service_unavailable. Default: true (an outage of the
   * limiter's store should not take the API down with it).
   */
  RATE_LIMIT_FAIL_OPEN: bool(true),
  /** Model tokens per minute per API key. Default: none (no budget). */
  TOKENS_PER_MINUTE: optionalString.pipe(z.coerce.number<string>().int().min(1).optional()),
  /** Seconds SIGTERM waits for in-flight requests and streams. Default: 30. */
  SHUTDOWN_GRACE_SECONDS: num(0, 3600).default(30),
  /** Token budget for conversation history sent upstream. Default: 6000. */
  HISTORY_MAX_TOKENS: int(1, 10_000_000).default(6000),
  /** Input budget of /v1/responses (stored history plus new items), in tokens. Default: 128000. */
  MODEL_CONTEXT_TOKENS: int(1, 100_000_000).default(128_000),
  /** Model calls per agent request. Default: 5. */
  AGENT_MAX_ITERATIONS: int(1, 100).default(5),
  /** System prompt of new conversations. Default: "You are a helpful assistant." */
  SYSTEM_PROMPT: z.string().default('You are a helpful assistant.'),
  /** Sent as `dimensions` to the embeddings endpoint when set. Default: the model's. */
  EMBEDDING_DIMENSIONS: optionalString.pipe(z.coerce.number<string>().int().min(1).max(16384).optional()),
  /** How often the embedding worker looks for tasks to embed (it is also woken by writes). Default: 1000 ms. */
  EMBEDDING_WORKER_INTERVAL_MS: int(10, 3_600_000).default(1000),
  /** Longest wait between embedding retries during an outage (exponential backoff up to it). Default: 5000 ms. */
  EMBEDDING_RETRY_MAX_MS: int(10, 3_600_000).default(5000),
  /**
   * Memory for in-memory search indexes (about 1.6 KB per task at 1536 dimensions), least
   * recently used users dropped first; a user whose vectors do not fit is searched in the
   * database instead. 0 turns the indexes off. Default: 256 MB.
   */
  SEARCH_INDEX_MEMORY_MB: int(0, 1_000_000).default(256),
  /** How long an ended stream's events stay readable (GET /streams/{id}); after it, 410 stream_expired. Default: 600 s. */
  STREAM_RETENTION_SECONDS: num(0.01, 7 * 86_400).default(600),
  /** How long a `resumable` stream keeps producing after its last reader left. Default: 15 s. */
  STREAM_RESUME_GRACE_SECONDS: num(0, 3600).default(15),
  /**
   * The producer's lease (with REDIS_URL): renewed while it runs; when it lapses with no end,
   * another instance ends the stream with stream_lost. Default: 10 s.
   */
  STREAM_LEASE_SECONDS: num(0.1, 3600).default(10),
  /** Serves GET /metrics and records request, upstream and stream metrics. Default: true. */
  METRICS_ENABLED: bool(true),
  /** Comma-separated allowed origins. Default: none (no cross-origin access). */
  CORS_ORIGINS: optionalString,
  /** pino level. Default: info. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * The app's sign-in key set (JWKS): a bearer token that is a JWT is verified against it, and its
   * `sub` is the user (created on first sight). Needs AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE: a token
   * of any issuer or audience the key set signs would be accepted otherwise. Default: none (API keys only).
   */
  AUTH_JWKS_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  /** The `iss` every JWT must carry. Default: none; required with AUTH_JWKS_URL. */
  AUTH_JWT_ISSUER: optionalString,
  /** The `aud` every JWT must carry (one of them, comma-separated). Default: none; required with AUTH_JWKS_URL. */
  AUTH_JWT_AUDIENCE: optionalString,
  /**
   * After fetching the key set, how long a token naming a `kid` it lacks is refused rather than
   * making us fetch it again (so junk kids cannot hammer the JWKS). Default: 30.
   */
  AUTH_JWKS_COOLDOWN_SECONDS: num(0, 3600).default(30),
  /** Enables the admin API (/admin/*) for this bearer token; at least 16 characters. Default: none (/admin answers 404). */
  ADMIN_API_KEY: optionalString.pipe(z.string().min(16).optional()),
  /**
   * Every model call's tokens are added to the usage ledger per (user, model, day), summed in memory and
   * written every this many ms (and at shutdown); 0 writes each call through. Default: 1000.
   */
  USAGE_FLUSH_MS: int(0, 60_000).default(1000),
  /** Records model usage (GET /usage, /admin/usage). Off only to measure its cost (bench/tenancy.ts). Default: true. */
  USAGE_LEDGER_ENABLED: bool(true),
}).superRefine((e, ctx) => {
  if (!e.AUTH_JWKS_URL) return;
  for (const name of ['AUTH_JWT_ISSUER', 'AUTH_JWT_AUDIENCE'] as const) {
    if (!e[name]) ctx.addIssue({ code: 'custom', path: [name], message: 'required when AUTH_JWKS_URL is set' });
  }
});

const SECRET_VARIABLES = new Set(['OPENAI_API_KEY', 'DATABASE_URL', 'REDIS_URL', 'ADMIN_API_KEY']);

type Env = z.infer<typeof envSchema>;

export interface Config {
  host: string;
  port: number;
  openai: {
    apiKey: string | undefined;
    baseURL: string | undefined;
    model: string;
    embeddingModel: string;
    embeddingDimensions: number | undefined;
    maxTokens: number;
    temperature: number;
    timeoutMs: number;
    maxRetries: number;
  };
  /** The background embedding worker (see services/embedding-worker.ts). */
  embeddingWorker: { intervalMs: number; retryMaxMs: number };
  /** In-memory search indexes (see services/vector-index). */
  searchIndex: { maxBytes: number };
  database: { url: string; poolSize: number };
  redisUrl: string | undefined;
  redisKeyPrefix: string;
  rateLimit: { enabled: boolean; perMinute: number; tokensPerMinute: number | undefined; failOpen: boolean };
  metricsEnabled: boolean;
  /** Resumable streams (see streams/stream-hub.ts). */
  streams: { retentionMs: number; resumeGraceMs: number; leaseMs: number };
  shutdownGraceMs: number;
  historyMaxTokens: number;
  modelContextTokens: number;
  agentMaxIterations: number;
  systemPrompt: string;
  corsOrigins: string[];
  logLevel: Env['LOG_LEVEL'];
  /** JWT bearer tokens beside API keys; undefined when AUTH_JWKS_URL is not set. */
  jwt: { jwksUrl: string; issuer: string; audience: string[]; cooldownMs: number } | undefined;
  adminApiKey: string | undefined;
  usageLedger: { enabled: boolean; flushMs: number };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Validates the environment once; throws ConfigError with one line per bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = new Map<string, string>();
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? 'environment');
      // Never echo values that may hold credentials (keys, passwords inside URLs).
      const shown = SECRET_VARIABLES.has(name) ? '' : ` (got ${JSON.stringify(env[name] ?? '')})`;
      if (!lines.has(name)) lines.set(name, `${name}: ${issue.message}${shown}`);
    }
    throw new ConfigError([...lines.values()]);
  }
  const e = parsed.data;
  return {
    host: e.HOST,
    port: e.PORT,
    openai: {
      apiKey: e.OPENAI_API_KEY,
      baseURL: e.OPENAI_BASE_URL,
      model: e.OPENAI_MODEL,
      embeddingModel: e.OPENAI_EMBEDDING_MODEL,
      embeddingDimensions: e.EMBEDDING_DIMENSIONS,
      maxTokens: e.OPENAI_MAX_TOKENS,
      temperature: e.OPENAI_TEMPERATURE,
      timeoutMs: Math.round(e.OPENAI_TIMEOUT * 1000),
      maxRetries: e.OPENAI_MAX_RETRIES,
    },
    embeddingWorker: { intervalMs: e.EMBEDDING_WORKER_INTERVAL_MS, retryMaxMs: e.EMBEDDING_RETRY_MAX_MS },
    searchIndex: { maxBytes: e.SEARCH_INDEX_MEMORY_MB * 2 ** 20 },
    database: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE },
    redisUrl: e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    rateLimit: {
      enabled: e.RATE_LIMIT_ENABLED,
      perMinute: e.RATE_LIMIT_PER_MINUTE,
      tokensPerMinute: e.TOKENS_PER_MINUTE,
      failOpen: e.RATE_LIMIT_FAIL_OPEN,
    },
    metricsEnabled: e.METRICS_ENABLED,
    streams: {
      retentionMs: Math.round(e.STREAM_RETENTION_SECONDS * 1000),
      resumeGraceMs: Math.round(e.STREAM_RESUME_GRACE_SECONDS * 1000),
      leaseMs: Math.round(e.STREAM_LEASE_SECONDS * 1000),
    },
    shutdownGraceMs: Math.round(e.SHUTDOWN_GRACE_SECONDS * 1000),
    historyMaxTokens: e.HISTORY_MAX_TOKENS,
    modelContextTokens: e.MODEL_CONTEXT_TOKENS,
    agentMaxIterations: e.AGENT_MAX_ITERATIONS,
    systemPrompt: e.SYSTEM_PROMPT,
    corsOrigins: (e.CORS_ORIGINS ?? '')
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    logLevel: e.LOG_LEVEL,
    jwt: e.AUTH_JWKS_URL
      ? {
          jwksUrl: e.AUTH_JWKS_URL,
          issuer: e.AUTH_JWT_ISSUER!,
          audience: e.AUTH_JWT_AUDIENCE!.split(',').map((a) => a.trim()).filter(Boolean),
          cooldownMs: Math.round(e.AUTH_JWKS_COOLDOWN_SECONDS * 1000),
        }
      : undefined,
    adminApiKey: e.ADMIN_API_KEY,
    usageLedger: { enabled: e.USAGE_LEDGER_ENABLED, flushMs: e.USAGE_FLUSH_MS },
  };
}
