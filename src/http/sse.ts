import { once } from 'node:events';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, InternalError, ServiceUnavailableError } from '../errors.js';
import { isAbort } from '../upstream/error-mapping.js';
import type { LoggedEvent, StreamHub, StreamKind, StreamPolicy, StreamProducer } from '../streams/stream-hub.js';
import type { CallOptions } from '../upstream/model-call.js';
import { abortOnDisconnect } from './client-disconnect.js';
import { modelCallOptions } from './model-call-options.js';
import { toOpenAIError, type OpenAIErrorObject } from './openai-errors.js';

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
  send(data: unknown, event?: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    const payload = typeof data === 'string' ? data : JSON.stringify(data);
    return this.write(event ? `event: ${event}\ndata: ${payload}\n\n` : `data: ${payload}\n\n`);
  }

  /** Writes one logged event: its seq as the SSE `id:` (what a client resumes from), its `event:` name if any, its data. */
  sendLogged(logged: LoggedEvent): Promise<void> {
    const name = logged.event === undefined ? '' : `event: ${logged.event}\n`;
    return this.write(`id: ${logged.seq}\n${name}data: ${logged.data}\n\n`);
  }

  private corked = false;
  private readonly uncork = () => {
    this.corked = false;
    this.response.uncork();
  };

  private async write(text: string): Promise<void> {
    if (this.closed) return;
    // Events written in one go (those of one upstream read) leave in one write, not one
    // syscall each: corked until the next tick (Node's pattern for batching writes).
    // Measured (profiles of two alternating runs each, instant fake, c=32): /v1 streams
    // 1,765 against 1,300-1,428 streams/s, 676-696 against 852 µs of CPU a stream;
    // /chat/stream 1,080-1,203 against 962-996. `npm run bench:builds` against a build
    // without it (3 rounds, /chat/stream c=32): instant fake 822 against 951 µs a stream;
    // realistic upstream (one event a read but the last few) 3,611 against 3,785 µs, within
    // the rounds' spread, 36 streams/s both.
    if (!this.corked) {
      this.corked = true;
      this.response.cork();
      process.nextTick(this.uncork);
    }
    if (!this.response.write(text)) {
      await Promise.race([once(this.response, 'drain'), once(this.response, 'close')]);
    }
  }

  end(): void {
    if (!this.closed) this.response.end();
  }
}

/** What the services' event streams have in common: a type, and for failures a code and message. */
type StreamEvent = { type: string } & ({ type: 'error'; code: string; message: string; cause?: unknown } | object);

/** A service's event stream: its conversation, the id its reply is stored under (for the lost-stream handler), its events. */
export interface ServiceStream<E> {
  conversationId: string;
  replyId: string;
  events: AsyncIterable<E>;
}

/** Which log a service's event stream goes to, and what a disconnect does to it. */
interface LogTarget {
  hub: StreamHub;
  kind: StreamKind;
  policy: StreamPolicy;
}

/**
 * Serves a service's event stream (/chat/stream, /agent/stream) through its stream log
 * (resumable streams): `start` begins the service's stream with the signal its model calls
 * must follow; a failure before its first event is a plain error response. Then the events
 * go into the log, `{"conversation_id","stream_id"}` first, one `data:` event each (`payload`
 * maps an event to its body), then `[DONE]`; an `error` event becomes `{"error","code"}` and
 * ends the log without `[DONE]`, and so does a stream cut by an abort (policy, cancel,
 * shutdown). The request is the log's first reader: every event it gets carries its seq as
 * `id:`. Its leaving is the policy's business (the hub's reader rule), not an abort here.
 */
export async function writeEventStream<E extends StreamEvent>(
  request: FastifyRequest,
  reply: FastifyReply,
  target: LogTarget,
  start: (options: CallOptions & { signal: AbortSignal }) => Promise<ServiceStream<E>>,
  payload: (event: Exclude<E, { type: 'error' }>) => unknown,
): Promise<void> {
  const disconnected = abortOnDisconnect(reply);
  const upstream = new AbortController();
  // Until the stream exists, a client leaving aborts it (a background one only stops for shutdown).
  const cutEarly = target.policy === 'background' ? request.server.shutdownSignal : disconnected;
  const abortEarly = () => upstream.abort(cutEarly.reason);
  cutEarly.addEventListener('abort', abortEarly, { once: true });
  let stream: ServiceStream<E>;
  try {
    stream = await start(modelCallOptions(request, reply, upstream.signal));
  } finally {
    cutEarly.removeEventListener('abort', abortEarly);
  }
  const userId = request.user.id;
  let producer: StreamProducer;
  try {
    const context = { conversationId: stream.conversationId, replyId: stream.replyId };
    // The hub stops the stream (policy, cancel, shutdown) by aborting the model call's own controller.
    producer = await target.hub.open({ userId, kind: target.kind, policy: target.policy, context, stop: upstream });
  } catch (error) {
    // No log to write to (Redis away): the model call stops and the service stores what arrived, as on any abort.
    upstream.abort(error);
    for await (const _event of stream.events);
    request.log.error({ err: error }, 'opening the stream log failed');
    throw new ServiceUnavailableError('The stream log (Redis) is not answering; try again');
  }
  void produce(request, producer, { conversation_id: stream.conversationId, stream_id: producer.id }, stream.events, payload, upstream);
  await writeLoggedStream(request, reply, target.hub.read(userId, producer.id, { after: 0, signal: disconnected }), disconnected);
}

/** Writes a log's events as they come, until its end or the client leaving (`disconnected`). */
export async function writeLoggedStream(
  request: FastifyRequest,
  reply: FastifyReply,
  events: AsyncIterable<LoggedEvent>,
  disconnected: AbortSignal = abortOnDisconnect(reply),
): Promise<void> {
  const sse = new SseWriter(request, reply);
  try {
    for await (const event of events) {
      await sse.sendLogged(event);
      if (disconnected.aborted) break;
    }
  } catch (error) {
    request.log.error({ err: error }, 'reading the stream log failed');
  } finally {
    sse.end();
  }
}

/**
 * The producer's side: the service's events into the log. A log that refuses an event
 * (Redis away) stops the model call; the service then stores what arrived, as on any abort.
 * `end()` always runs, so readers finish.
 */
async function produce<E extends StreamEvent>(
  request: FastifyRequest,
  producer: StreamProducer,
  first: { conversation_id: string; stream_id: string },
  events: AsyncIterable<E>,
  payload: (event: Exclude<E, { type: 'error' }>) => unknown,
  upstream: AbortController,
): Promise<void> {
  try {
    await producer.append(JSON.stringify(first));
    let failed = false;
    for await (const event of events) {
      if (isErrorEvent(event)) {
        failed = true;
        if (event.code === 'internal_error') request.log.error({ err: event.cause }, 'stream failed');
        await producer.append(JSON.stringify({ error: event.message, code: event.code }));
      } else {
        await producer.append(JSON.stringify(payload(event as Exclude<E, { type: 'error' }>)));
      }
    }
    // A stream cut by an abort (shutdown, cancel, readers gone) ends without [DONE], so readers know it is incomplete.
    if (!failed && !upstream.signal.aborted) await producer.append('[DONE]');
  } catch (error) {
    upstream.abort(error);
    request.log.error({ err: error, stream_id: producer.id }, 'writing the stream log failed');
  } finally {
    await producer.end().catch((error: unknown) => request.log.error({ err: error, stream_id: producer.id }, 'ending the stream log failed'));
  }
}

/**
 * Writes an OpenAI stream (/v1): each event's data as it came (named, for the Responses
 * API's typed events), with backpressure. A failure after the first event ends it with the
 * protocol's error event, `errorEvent` of OpenAI's error object (Chat Completions'
 * `{"error": {...}}`, which the SDKs raise, without [DONE]). A client that goes away aborts
 * the upstream (the events end with an AbortError, which is no error here).
 */
export async function writeOpenAIStream(
  request: FastifyRequest,
  reply: FastifyReply,
  events: AsyncIterable<string | { event: string; data: string }>,
  errorEvent: (error: OpenAIErrorObject) => { event?: string; data: unknown },
): Promise<void> {
  const sse = new SseWriter(request, reply);
  try {
    for await (const item of events) await (typeof item === 'string' ? sse.send(item) : sse.send(item.data, item.event));
  } catch (error) {
    if (!isAbort(error)) {
      if (!(error instanceof AppError)) request.log.error({ err: error }, 'stream failed');
      const { event, data } = errorEvent(toOpenAIError(error instanceof AppError ? error : new InternalError({ cause: error })).error);
      await sse.send(data, event);
    }
  } finally {
    sse.end();
  }
}

const isErrorEvent = (event: StreamEvent): event is Extract<StreamEvent, { type: 'error' }> => event.type === 'error';
