import type { IncomingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool, type Dispatcher } from 'undici';
import type { Config } from '../config/config.js';
import { version } from '../shared/version.js';
import { ProviderConnectionError, ProviderHttpError, ProviderProtocolError, ProviderTimeoutError } from './provider-errors.js';

/**
 * The longest upstream wait hint we sit out inside one request. A longer
 * Retry-After is handed to our caller (429) instead of holding their request open.
 */
const MAX_RETRY_WAIT_MS = 10_000;
/** An error body is read up to this size for its message; the rest is dropped. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const DEFAULT_BASE_URL = 'https://api.openai.com/v1';

interface SendOptions {
  method: 'GET' | 'POST' | 'DELETE';
  /** Below the base URL, without a leading slash: `chat/completions`. */
  path: string;
  /** JSON, as bytes or text. */
  body?: string | Buffer | undefined;
  /** Aborts the call at once, retries and backoff included (client gone, shutdown). */
  signal?: AbortSignal | undefined;
  /** Sent upstream as x-request-id, to follow one request across both logs. */
  requestId?: string | undefined;
  /** Per-call override of OPENAI_MAX_RETRIES. */
  maxRetries?: number | undefined;
  /** Per-call override of OPENAI_TIMEOUT, in ms. */
  timeoutMs?: number | undefined;
  /** Called as each HTTP attempt starts (metrics count them). */
  onAttempt?: (() => void) | undefined;
}

/** A 2xx answer whose body is still to be read: JSON, or an event stream read as it arrives. */
export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Dispatcher.ResponseData['body'];
}

/**
 * The one way the service talks to the model provider: plain HTTP on a keep-alive undici
 * Pool to OPENAI_BASE_URL's origin, no SDK on the path. It knows HTTP and retries, nothing
 * of the app or of what the JSON means.
 *
 * - Retries 408, 409, 429, 5xx, connection errors and timeouts before the first byte of an
 *   answer, up to OPENAI_MAX_RETRIES times: exponential backoff with jitter (0.5 s doubling
 *   to 8 s, less up to 25%), or the provider's `retry-after-ms` / `retry-after` when it
 *   sends one (and `x-should-retry`, as OpenAI's SDKs honour it). A hint over
 *   MAX_RETRY_WAIT_MS is not sat out: the answer goes back to the caller at once.
 * - OPENAI_TIMEOUT bounds each attempt's wait for the answer's headers, and any silence of
 *   the body after them (undici's headersTimeout / bodyTimeout).
 * - One AbortSignal from the client stops everything: the attempt, the backoff, the body.
 *
 * Why not undici's RetryHandler: it resumes bodies with Range requests and cannot hand a
 * long Retry-After back to the caller or report attempts; this loop is the part we need.
 */
export interface Transport {
  send(options: SendOptions): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

/**
 * The transport to the configured provider; undefined when none is configured (neither
 * OPENAI_API_KEY nor OPENAI_BASE_URL): model endpoints then answer 503
 * provider_not_configured while everything else keeps working.
 */
export function providerTransport(config: Config['openai']): Transport | undefined {
  return config.apiKey || config.baseURL ? createTransport(config) : undefined;
}

function createTransport(config: Config['openai']): Transport {
  const base = new URL(config.baseURL ?? DEFAULT_BASE_URL);
  const prefix = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  const pool = new Pool(base.origin, { keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000 });
  const fixedHeaders: Record<string, string> = {
    'user-agent': `openai-backend/${version}`,
    // Local OpenAI-compatible servers (vLLM, Ollama, the fake) often need no key.
    ...(config.apiKey && { authorization: `Bearer ${config.apiKey}` }),
  };

  async function send(options: SendOptions): Promise<UpstreamResponse> {
    const { signal } = options;
    const maxRetries = options.maxRetries ?? config.maxRetries;
    const timeout = options.timeoutMs ?? config.timeoutMs;
    const headers: Record<string, string> = { ...fixedHeaders, accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.requestId) headers['x-request-id'] = options.requestId;

    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw abortError(signal);
      options.onAttempt?.();
      let response: Dispatcher.ResponseData;
      try {
        response = await pool.request({
          method: options.method,
          path: prefix + options.path,
          headers,
          body: options.body ?? null,
          signal: signal ?? null,
          headersTimeout: timeout,
          bodyTimeout: timeout,
        });
      } catch (error) {
        if (signal?.aborted) throw abortError(signal);
        const failure = isTransportTimeout(error)
          ? new ProviderTimeoutError({ cause: error })
          : new ProviderConnectionError({ cause: error });
        if (attempt > maxRetries) throw failure;
        await backoff(attempt, undefined, signal);
        continue;
      }
      if (response.statusCode >= 200 && response.statusCode < 300) {
        return { status: response.statusCode, headers: response.headers, body: response.body };
      }

      const hint = retryHintMs(response.headers);
      const retry = attempt <= maxRetries && shouldRetry(response) && (hint === undefined || hint <= MAX_RETRY_WAIT_MS);
      if (retry) {
        response.body.resume(); // read and dropped: the connection is kept
        await backoff(attempt, hint, signal);
        continue;
      }
      throw new ProviderHttpError(response.statusCode, response.headers, await readErrorBody(response.body));
    }
  }

  return { send, close: () => pool.close() };
}

/** A 2xx answer's body read whole as JSON; a body that is not JSON is the provider's fault. */
export async function readJson<T>(response: UpstreamResponse): Promise<T> {
  const text = await response.body.text();
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new ProviderProtocolError('The model provider sent a response we could not read', { cause: error });
  }
}

function shouldRetry(response: Dispatcher.ResponseData): boolean {
  const told = response.headers['x-should-retry'];
  if (told === 'true') return true;
  if (told === 'false') return false;
  const status = response.statusCode;
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** Waits before the next attempt: the provider's hint when it gave one, else backoff with jitter. */
function backoff(attempt: number, hintMs: number | undefined, signal: AbortSignal | undefined): Promise<void> {
  const exponential = Math.min(500 * 2 ** (attempt - 1), 8_000) * (1 - Math.random() * 0.25);
  const wait = hintMs !== undefined && hintMs >= 0 ? hintMs : exponential;
  return sleep(wait, undefined, signal ? { signal } : undefined).catch((error: unknown) => {
    throw signal?.aborted ? abortError(signal) : error;
  });
}

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** The provider's wait hint in ms: retry-after-ms, then retry-after (seconds or an HTTP date). */
function retryHintMs(headers: IncomingHttpHeaders): number | undefined {
  const ms = Number.parseFloat(header(headers, 'retry-after-ms') ?? '');
  if (Number.isFinite(ms)) return ms;
  const raw = header(headers, 'retry-after');
  if (!raw) return undefined;
  const seconds = Number.parseFloat(raw);
  if (Number.isFinite(seconds)) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isFinite(date) ? date - Date.now() : undefined;
}

/** The provider's wait hint in whole seconds (at least 1), for our own Retry-After. */
export function retryAfterSeconds(headers: IncomingHttpHeaders | undefined, fallback = 1): number {
  const ms = headers ? retryHintMs(headers) : undefined;
  return ms === undefined || ms < 0 ? fallback : Math.max(1, Math.ceil(ms / 1000));
}

async function readErrorBody(body: Dispatcher.ResponseData['body']): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const bytes = chunk as Buffer;
      chunks.push(bytes);
      size += bytes.length;
      if (size >= MAX_ERROR_BODY_BYTES) break;
    }
  } catch {
    // A body cut short still says what it said.
  } finally {
    body.destroy();
  }
  const text = Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY_BYTES).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** undici gave up waiting: for the connection, the answer's headers, or more of its body. */
export const isTransportTimeout = (error: unknown): boolean => {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
};

/** The AbortError a caller sees for its signal (its reason when that is an AbortError already). */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return new DOMException('This operation was aborted', 'AbortError');
}
