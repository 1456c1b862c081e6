import { once } from 'node:events';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, InternalError } from '../errors.js';
import { isAbort } from '../upstream/error-mapping.js';
import { toOpenAIError } from './openai-errors.js';

/**
 * Server-sent events over the raw response. Each `send` waits for the socket
 * to drain when its buffer is full, so a slow client slows the upstream read
 * (TCP backpressure) instead of growing memory.
 */
export class SseWriter {
  private readonly response: FastifyReply['raw'];

  constructor(request: FastifyRequest, reply: FastifyReply) {
    reply.hijack();
    this.response = reply.raw;
    const metrics = reply.server.metrics;
    if (metrics) {
      metrics.sseStreamOpened();
      this.response.once('close', metrics.sseStreamClosed);
    }
    this.response.writeHead(200, {
      // Headers hooks set on the reply (CORS, RateLimit-*) before the stream took it over.
      ...(reply.getHeaders() as Record<string, string | string[]>),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
      'x-request-id': String(request.id),
    });
  }

  /** True once the client is gone or the stream ended. */
  get closed(): boolean {
    return this.response.destroyed || this.response.writableEnded;
  }

  /** Writes one `data:` event (JSON for objects, as-is for strings such as [DONE]), named `event` when given. */
  async send(data: unknown, event?: string): Promise<void> {
    if (this.closed) return;
    const payload = typeof data === 'string' ? data : JSON.stringify(data);
    if (!this.response.write(event ? `event: ${event}\ndata: ${payload}\n\n` : `data: ${payload}\n\n`)) {
      await Promise.race([once(this.response, 'drain'), once(this.response, 'close')]);
    }
  }

  end(): void {
    if (!this.closed) this.response.end();
  }
}

/** What the services' event streams have in common: a type, and for failures a code and message. */
export type StreamEvent = { type: string } & ({ type: 'error'; code: string; message: string; cause?: unknown } | object);

/**
 * Writes a service's event stream as the contract's SSE: `{"conversation_id"}` first,
 * one `data:` line per event (`payload` maps an event to its body), then `[DONE]`;
 * an `error` event becomes `{"error","code"}` and ends the stream without `[DONE]`.
 * Events are drained even after a disconnect: the abort ends them quickly, and the
 * service stores what it must on the way out.
 */
export async function writeEventStream<E extends StreamEvent>(
  request: FastifyRequest,
  reply: FastifyReply,
  conversationId: string,
  events: AsyncIterable<E>,
  payload: (event: Exclude<E, { type: 'error' }>) => unknown,
): Promise<void> {
  const sse = new SseWriter(request, reply);
  try {
    await sse.send({ conversation_id: conversationId });
    let failed = false;
    for await (const event of events) {
      if (isErrorEvent(event)) {
        failed = true;
        if (event.code === 'internal_error') request.log.error({ err: event.cause }, 'stream failed');
        await sse.send({ error: event.message, code: event.code });
      } else {
        await sse.send(payload(event as Exclude<E, { type: 'error' }>));
      }
    }
    // A stream cut by shutdown ends without [DONE], so the client knows it is incomplete.
    if (!failed && !request.server.shutdownSignal?.aborted) await sse.send('[DONE]');
  } finally {
    sse.end();
  }
}

/**
 * Writes a relayed OpenAI stream (/v1): each event's data as it came, with backpressure. A
 * failure after the first event is OpenAI's mid-stream error event (`{"error": {...}}`,
 * which the SDKs raise), and the stream ends without [DONE]. A client that goes away
 * aborts the upstream (the events end with an AbortError, which is no error here).
 */
export async function writeRelayedStream(request: FastifyRequest, reply: FastifyReply, events: AsyncIterable<string>): Promise<void> {
  const sse = new SseWriter(request, reply);
  try {
    for await (const data of events) await sse.send(data);
  } catch (error) {
    if (!isAbort(error)) {
      if (!(error instanceof AppError)) request.log.error({ err: error }, 'stream failed');
      const appError = error instanceof AppError ? error : new InternalError({ cause: error });
      await sse.send({ error: toOpenAIError(appError).error });
    }
  } finally {
    sse.end();
  }
}

const isErrorEvent = (event: StreamEvent): event is Extract<StreamEvent, { type: 'error' }> => event.type === 'error';
