import {
  AppError,
  ContextLengthExceededError,
  ProviderRejectedError,
  UpstreamAuthFailedError,
  UpstreamError,
  UpstreamRateLimitedError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../errors.js';
import {
  ProviderConnectionError,
  ProviderHttpError,
  ProviderProtocolError,
  ProviderTimeoutError,
} from './provider-errors.js';
import { abortError, isTransportTimeout, retryAfterSeconds } from './transport.js';

/** The client hung up (or shutdown cut the call): not an error to report, the call just stops. */
export const isAbort = (error: unknown): boolean => error instanceof Error && error.name === 'AbortError';

/**
 * Maps what the transport reports, after its own retries, onto the contract's error
 * table for our own API. Upstream messages are never passed through: they can quote our key.
 */
export function toUpstreamError(error: unknown): unknown {
  if (error instanceof AppError || isAbort(error)) return error;
  const options = { cause: error };
  if (error instanceof ProviderTimeoutError) return new UpstreamTimeoutError(options);
  if (error instanceof ProviderConnectionError) return new UpstreamUnavailableError(options);
  if (error instanceof ProviderHttpError) {
    const status = error.status;
    if (status === 429) return new UpstreamRateLimitedError(retryAfterSeconds(error.headers), options);
    if (status === 401 || status === 403) return new UpstreamAuthFailedError(options);
    if (status === 408 || status === 504) return new UpstreamTimeoutError(options);
    if (status === 400 && error.error?.code === 'context_length_exceeded') {
      return new ContextLengthExceededError("The conversation does not fit the model's context window", options);
    }
    if (status === 404) return new UpstreamError('The model provider does not know the configured model (404); check OPENAI_MODEL', options);
    if (status >= 500) return new UpstreamError(`The model provider failed (${status})`, options);
    return new UpstreamError(`The model provider rejected the request (${status})`, options);
  }
  if (error instanceof ProviderProtocolError) return new UpstreamError(error.message, options);
  // Anything else thrown while reading an answer (a socket reset mid-body, a broken stream).
  return new UpstreamError('The model provider sent a response we could not read', options);
}

/**
 * What the provider's failures become on /v1: its 4xx (the client's fault) relayed with
 * their status and OpenAI error object; its 401/403 (our key is wrong), 429, 5xx,
 * timeouts and unreachability as our own errors, never with its words.
 */
export function toRelayError(error: unknown): unknown {
  if (error instanceof ProviderHttpError && error.status >= 400 && error.status < 500 && ![401, 403, 408, 429].includes(error.status)) {
    const e = error.error;
    const text = (v: unknown) => (typeof v === 'string' ? v : null);
    return new ProviderRejectedError(
      error.status,
      {
        message: text(e?.message) ?? `The model provider rejected the request (${error.status})`,
        type: text(e?.type) ?? 'invalid_request_error',
        param: text(e?.param),
        code: text(e?.code),
      },
      { cause: error },
    );
  }
  return toUpstreamError(error);
}

/** A failure while reading an answer's body, mapped: the abort it was, a timeout, or the provider's fault. */
export function readFailure(error: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return abortError(signal);
  return toUpstreamError(isTransportTimeout(error) ? new ProviderTimeoutError({ cause: error }) : error);
}
