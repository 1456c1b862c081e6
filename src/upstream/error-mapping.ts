import OpenAI from 'openai';
import {
  AppError,
  ContextLengthExceededError,
  UpstreamAuthFailedError,
  UpstreamError,
  UpstreamRateLimitedError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../errors.js';

/** The upstream's wait hint in whole seconds (at least 1): retry-after-ms, then retry-after. */
export function retryAfterSeconds(headers: Headers | undefined, fallback = 1): number {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return Math.max(1, Math.ceil(ms / 1000));
  const raw = headers?.get('retry-after');
  if (raw) {
    const seconds = Number.parseFloat(raw);
    if (Number.isFinite(seconds)) return Math.max(1, Math.ceil(seconds));
    const date = Date.parse(raw);
    if (Number.isFinite(date)) return Math.max(1, Math.ceil((date - Date.now()) / 1000));
  }
  return fallback;
}

/** The client hung up: not an error to report, the call just stops. */
export const isAbort = (error: unknown): boolean =>
  error instanceof OpenAI.APIUserAbortError || (error instanceof Error && error.name === 'AbortError');

/**
 * Maps what the SDK throws, after its own retries, onto the contract's error table.
 * Upstream messages are never passed through: they can quote our key.
 */
export function toUpstreamError(error: unknown): unknown {
  if (error instanceof AppError || isAbort(error)) return error;
  const options = { cause: error };
  if (error instanceof OpenAI.APIConnectionTimeoutError) return new UpstreamTimeoutError(options);
  if (error instanceof OpenAI.APIConnectionError) return new UpstreamUnavailableError(options);
  if (error instanceof OpenAI.APIError) {
    const status = error.status ?? 0;
    if (status === 429) return new UpstreamRateLimitedError(retryAfterSeconds(error.headers), options);
    if (status === 401 || status === 403) return new UpstreamAuthFailedError(options);
    if (status === 408 || status === 504) return new UpstreamTimeoutError(options);
    if (status === 400 && error.code === 'context_length_exceeded') return new ContextLengthExceededError("The conversation does not fit the model's context window", options);
    if (status === 404) return new UpstreamError('The model provider does not know the configured model (404); check OPENAI_MODEL', options);
    if (status >= 500) return new UpstreamError(`The model provider failed (${status})`, options);
    return new UpstreamError(`The model provider rejected the request (${status})`, options);
  }
  // Anything else thrown from inside the SDK call (an unparseable body, a broken stream).
  return new UpstreamError('The model provider sent a response we could not read', options);
}
