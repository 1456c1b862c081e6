import OpenAI from 'openai';
import type { Config } from '../config/config.js';
import { createNodeHttpFetch } from './node-http-fetch.js';

/**
 * The longest upstream wait hint we sit out inside one request. A longer
 * Retry-After is handed to our caller as 429 upstream_rate_limited instead of
 * holding their request open.
 */
export const MAX_RETRY_WAIT_MS = 10_000;

function retryHintMs(headers: Headers): number | undefined {
  const ms = Number.parseFloat(headers.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms)) return ms;
  const raw = headers.get('retry-after');
  if (!raw) return undefined;
  const seconds = Number.parseFloat(raw);
  return Number.isFinite(seconds) ? seconds * 1000 : Date.parse(raw) - Date.now();
}

/**
 * fetch as the SDK sees it: when the upstream asks for a wait longer than we
 * allow, `x-should-retry: false` tells the SDK's retry loop to stop and surface it.
 */
function boundedRetries(inner: typeof fetch): typeof fetch {
  return async (input, init) => {
    const response = await inner(input, init);
    if (response.ok) return response;
    const hint = retryHintMs(response.headers);
    if (hint === undefined || hint <= MAX_RETRY_WAIT_MS) return response;
    const headers = new Headers(response.headers);
    headers.set('x-should-retry', 'false');
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  };
}

/**
 * Key of a callback in a call's `fetchOptions` that is invoked on every HTTP attempt.
 * The SDK copies a request's fetchOptions into the init of each attempt (retries
 * included), so this counts one call's attempts without any shared state.
 */
export const ATTEMPT_LISTENER = Symbol('oab.onAttempt');

function countAttempts(inner: typeof fetch): typeof fetch {
  return (input, init) => {
    (init as { [ATTEMPT_LISTENER]?: () => void } | undefined)?.[ATTEMPT_LISTENER]?.();
    return inner(input, init);
  };
}

/**
 * The one OpenAI SDK client, built from config. Undefined when no provider is
 * configured (neither OPENAI_API_KEY nor OPENAI_BASE_URL): model endpoints then
 * answer 503 provider_not_configured while everything else keeps working.
 * Retries (429, 5xx, connection errors; exponential backoff with jitter; honouring
 * retry-after-ms / retry-after) are the SDK's own.
 */
export function createOpenAIClient(config: Config['openai']): OpenAI | undefined {
  if (!config.apiKey && !config.baseURL) return undefined;
  return new OpenAI({
    // Local OpenAI-compatible servers (vLLM, Ollama, the fake) often need no key; the SDK insists on one.
    apiKey: config.apiKey ?? 'no-key',
    ...(config.baseURL && { baseURL: config.baseURL }),
    timeout: config.timeoutMs,
    maxRetries: config.maxRetries,
    fetch: countAttempts(boundedRetries(createNodeHttpFetch())),
  });
}
