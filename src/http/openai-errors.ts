import { AppError, InvalidRequestError, ProviderRejectedError, ValidationError } from '../errors.js';

/** OpenAI's error object: what every error on /v1 answers, so the SDKs raise their matching classes. */
export interface OpenAIErrorObject {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

/** The OpenAI-compatible API lives under /v1; everything else speaks the contract's own error body. */
export const isOpenAIPath = (url: string): boolean => url === '/v1' || url.startsWith('/v1/') || url.startsWith('/v1?');

/**
 * Our error vocabulary in OpenAI's words: the status OpenAI would send for it and its
 * error object. Codes that OpenAI's SDKs and clients look at keep OpenAI's names
 * (`invalid_api_key`, `rate_limit_exceeded`); the rest keep ours.
 */
export function toOpenAIError(error: AppError): { status: number; error: OpenAIErrorObject } {
  if (error instanceof ProviderRejectedError) return { status: error.status, error: error.openai };
  const of = (status: number, type: string, code: string | null, param: string | null = null) => ({
    status,
    error: { message: error.message, type, param, code },
  });
  if (error instanceof InvalidRequestError) return of(400, 'invalid_request_error', error.code, error.param);
  if (error instanceof ValidationError) return of(400, 'invalid_request_error', 'invalid_value', fieldOf(error.message));
  switch (error.code) {
    case 'unauthorized':
      return of(401, 'invalid_request_error', 'invalid_api_key');
    case 'invalid_json':
    case 'invalid_url':
      return of(400, 'invalid_request_error', error.code);
    case 'context_length_exceeded':
      return of(400, 'invalid_request_error', error.code, 'input');
    case 'not_found':
      return of(404, 'invalid_request_error', 'not_found');
    case 'payload_too_large':
    case 'unsupported_media_type':
      return of(error.status, 'invalid_request_error', error.code);
    case 'rate_limited':
      return of(429, /token/i.test(error.message) ? 'tokens' : 'requests', 'rate_limit_exceeded');
    case 'upstream_rate_limited':
      return of(429, 'requests', 'rate_limit_exceeded');
  }
  // Any other client error (a framework 4xx) keeps its status; the rest are ours to own.
  if (error.status < 500) return of(error.status, 'invalid_request_error', error.code);
  return of(error.status, 'server_error', error.code);
}

/** "body.input.0.content: expected string" → "input[0].content" (zod's path, as our ValidationError words it, in OpenAI's spelling). */
function fieldOf(message: string): string | null {
  const path = /^(?:body|querystring|params)\.([^:;]+):/.exec(message)?.[1];
  return path?.replace(/\.(\d+)(?=\.|$)/g, '[$1]') ?? null;
}
