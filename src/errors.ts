/**
 * The service's one error vocabulary: every error a client can see, with its
 * stable `code` and HTTP status, in one place. Services throw these; the HTTP
 * error handler turns them into the contract's body. Nothing here knows HTTP
 * beyond the status number.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra response headers, e.g. Retry-After. */
    readonly headers: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  /** Whether trying again later may succeed (408, 409, 429, 5xx). */
  get isRetryable(): boolean {
    return this.status === 408 || this.status === 409 || this.status === 429 || this.status >= 500;
  }
}

// --- request -------------------------------------------------------------
export class InvalidJsonError extends AppError {
  constructor(detail?: string) {
    super(400, 'invalid_json', detail ? `Request body is not valid JSON: ${detail}` : 'Request body is not valid JSON');
  }
}
export class ValidationError extends AppError {
  constructor(message: string) {
    super(422, 'validation_error', message);
  }
}
export class InvalidUrlError extends AppError {
  constructor() {
    super(400, 'invalid_url', 'The request URL is malformed (bad percent-encoding)');
  }
}
export class PayloadTooLargeError extends AppError {
  constructor(limitBytes: number) {
    super(413, 'payload_too_large', `Request body is larger than ${limitBytes} bytes`);
  }
}
export class UnsupportedMediaTypeError extends AppError {
  constructor(contentType: string) {
    super(415, 'unsupported_media_type', `Unsupported content type: ${contentType}; send application/json`);
  }
}

/**
 * A request the OpenAI-compatible API (/v1) refuses, as OpenAI does: 400 naming the
 * field in `param`. Our own API uses ValidationError (422) instead.
 */
export class InvalidRequestError extends AppError {
  constructor(
    message: string,
    readonly param: string | null,
    code = 'invalid_value',
  ) {
    super(400, code, message);
  }
}

// --- auth and resources ----------------------------------------------------
export class UnauthorizedError extends AppError {
  constructor(message = 'Missing or unknown API key; send Authorization: Bearer <api_key>') {
    super(401, 'unauthorized', message);
  }
}
export class NotFoundError extends AppError {
  constructor(what = 'Resource') {
    super(404, 'not_found', `${what} not found`);
  }
}

/** A stream's log is gone: STREAM_RETENTION_SECONDS passed after its end. */
export class StreamExpiredError extends AppError {
  constructor() {
    super(410, 'stream_expired', 'The stream ended longer ago than STREAM_RETENTION_SECONDS and is no longer kept');
  }
}

// --- model calls -------------------------------------------------------------
export class ContextLengthExceededError extends AppError {
  constructor(message = "The message does not fit the model's context budget", options?: { cause?: unknown }) {
    super(422, 'context_length_exceeded', message, {}, options);
  }
}
export class RateLimitedError extends AppError {
  constructor(retryAfterSeconds: number, message = 'Rate limit exceeded') {
    super(429, 'rate_limited', message, { 'retry-after': String(retryAfterSeconds) });
  }
}
export class UpstreamRateLimitedError extends AppError {
  constructor(retryAfterSeconds: number, options?: { cause?: unknown }) {
    super(429, 'upstream_rate_limited', 'The model provider is rate limiting requests; try again later', {
      'retry-after': String(retryAfterSeconds),
    }, options);
  }
}
export class UpstreamError extends AppError {
  constructor(message = 'The model provider returned an error', options?: { cause?: unknown }) {
    super(502, 'upstream_error', message, {}, options);
  }
}
export class UpstreamUnavailableError extends AppError {
  constructor(options?: { cause?: unknown }) {
    super(502, 'upstream_unavailable', 'The model provider could not be reached', {}, options);
  }
}
export class UpstreamTimeoutError extends AppError {
  constructor(options?: { cause?: unknown }) {
    super(504, 'upstream_timeout', 'The model provider did not answer in time', {}, options);
  }
}
export class UpstreamAuthFailedError extends AppError {
  constructor(options?: { cause?: unknown }) {
    super(502, 'upstream_auth_failed', 'The model provider rejected our credentials; check OPENAI_API_KEY', {}, options);
  }
}
/**
 * The provider refused a request relayed on /v1 as the client's fault (a 4xx other than
 * 401, 403, 408 and 429): its status and OpenAI error object go back to the client as they
 * came. (Its 401/403 mean our provider key is wrong: UpstreamAuthFailedError, no text.)
 */
export class ProviderRejectedError extends AppError {
  constructor(
    status: number,
    readonly openai: { message: string; type: string; param: string | null; code: string | null },
    options?: { cause?: unknown },
  ) {
    super(status, openai.code ?? 'upstream_rejected', openai.message, {}, options);
  }
}
export class ProviderNotConfiguredError extends AppError {
  constructor() {
    super(
      503,
      'provider_not_configured',
      'No model provider is configured; set OPENAI_API_KEY (and OPENAI_BASE_URL for an OpenAI-compatible server)',
    );
  }
}

// --- server --------------------------------------------------------------------
export class InternalError extends AppError {
  constructor(options?: { cause?: unknown }) {
    super(500, 'internal_error', 'Internal server error', {}, options);
  }
}
export class ServiceUnavailableError extends AppError {
  constructor(message: string) {
    super(503, 'service_unavailable', message);
  }
}
