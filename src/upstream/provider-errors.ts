import type { IncomingHttpHeaders } from 'node:http';

/**
 * What the transport reports when a call to the model provider fails, after its own
 * retries: the provider's words, unmapped. Callers choose how to show them (our API's
 * error table in error-mapping.ts, OpenAI's error object on /v1).
 */
class ProviderError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The provider answered with a status outside 2xx. */
export class ProviderHttpError extends ProviderError {
  constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
    /** The body as JSON when it parses, otherwise its text (at most 64 KiB). */
    readonly body: unknown,
  ) {
    super(`The model provider answered ${status}`);
  }

  /** OpenAI's error object from the body (`{"error": {...}}`, or vLLM's flat `{"message", ...}`), when there is one. */
  get error(): { message?: unknown; type?: unknown; param?: unknown; code?: unknown } | undefined {
    const body = this.body as { error?: unknown; message?: unknown } | null;
    if (!body || typeof body !== 'object') return undefined;
    if (body.error && typeof body.error === 'object') return body.error as ProviderHttpError['error'];
    return typeof body.message === 'string' ? (body as ProviderHttpError['error']) : undefined;
  }
}

/** The provider could not be reached, or the connection broke before an answer. */
export class ProviderConnectionError extends ProviderError {
  constructor(options?: { cause?: unknown }) {
    super('The model provider could not be reached', options);
  }
}

/** No answer within OPENAI_TIMEOUT (per attempt), or a body that went silent that long. */
export class ProviderTimeoutError extends ProviderError {
  constructor(options?: { cause?: unknown }) {
    super('The model provider did not answer in time', options);
  }
}

/** The provider's answer could not be read as what it should be (not JSON, no choices, a broken stream). */
export class ProviderProtocolError extends ProviderError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
