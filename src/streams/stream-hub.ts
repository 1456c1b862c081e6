/**
 * Resumable streams (contract: "Resumable streams"): every SSE stream of the service is
 * an event log that producers append to and readers follow. The producer no longer writes
 * to a socket; the request that started the stream is just its first reader, and
 * `GET /streams/{id}` (or `GET /v1/responses/{id}?stream=true&starting_after=N`) is any other.
 *
 * One implementation per place a log can live: in process memory (one instance), and in
 * Redis Streams when REDIS_URL is set (any instance serves any reader). Knows nothing of
 * HTTP; the routes translate.
 *
 * THIS FILE IS THE AGREED INTERFACE between the resumable-streams work (#15) and the
 * Responses API's background mode (#14). Change it only together.
 */

/** What happens to the generation when readers go away (chosen per request). */
export type StreamPolicy =
  /** Abort the producer as soon as the first (original) reader leaves: today's behaviour. */
  | 'default'
  /** Keep producing for STREAM_RESUME_GRACE_SECONDS after the last reader leaves, then abort. */
  | 'resumable'
  /** Produce to the end whether or not anyone reads. */
  | 'background';

/** Which service a stream belongs to: picks the handler that settles a lost stream. */
export type StreamKind = 'chat' | 'agent' | 'response';

/** One event as readers get it. */
export interface LoggedEvent {
  /** Strictly increasing within the stream, from 1. The SSE `id:` of /chat/stream and /agent/stream. */
  seq: number;
  /** SSE `event:` name, when the stream uses them (the Responses API does). */
  event?: string | undefined;
  /** The SSE `data:` payload, already serialised (JSON, or `[DONE]`). */
  data: string;
}

export interface StreamSpec {
  userId: string;
  kind: StreamKind;
  policy: StreamPolicy;
  /** Ids the lost-stream handler needs (e.g. conversationId, responseId); stored with the log. */
  context: Record<string, string>;
  /**
   * What the hub aborts when the stream must stop (the producer's `signal` is its signal):
   * the caller's own, when its model call started before the log opened. Default: a new one.
   */
  stop?: AbortController | undefined;
}

/** The producer's side of one stream. */
export interface StreamProducer {
  readonly id: string;
  /**
   * Fires when the stream must stop: cancel (from any instance), the policy's reader
   * rule, or shutdown. Pass it to the model call.
   */
  readonly signal: AbortSignal;
  /** Appends one event; resolves with its seq once readers can see it. */
  append(data: string, event?: string): Promise<number>;
  /**
   * Ends the log (after the last event, e.g. `[DONE]` or an error event). Readers finish.
   * Must be called exactly once, also after a failure or an abort; idempotent.
   */
  end(): Promise<void>;
}

/**
 * Settles a stream whose producer died (its lease expired with no end): called once, by the
 * first instance to notice, with every event the log holds. It stores the reply as
 * incomplete with the text rebuilt from those events; the hub then appends the
 * `{"error":"…","code":"stream_lost"}` event (in the stream's own event format, see
 * `lostEvent`) and ends the log.
 */
export interface LostStreamHandler {
  settle(spec: StreamSpec, events: readonly LoggedEvent[]): Promise<void>;
  /** The final event readers get, in this kind's format (chat/agent: data only; response: `response.failed`). */
  lostEvent(spec: StreamSpec, lastSeq: number): { data: string; event?: string };
}

export interface StreamHub {
  /**
   * Opens a new log under a producer lease (STREAM_LEASE_SECONDS, renewed by the hub while
   * the producer runs). The caller appends events and must call `end()`.
   */
  open(spec: StreamSpec): Promise<StreamProducer>;
  /**
   * Every event after `after`, then the live ones until the log ends. Throws NotFoundError
   * for an unknown id or another user's, StreamExpiredError (410 `stream_expired`) once
   * STREAM_RETENTION_SECONDS have passed after its end. Reading counts as a reader for the
   * stream's policy until the iteration stops (break, return, or `signal`).
   */
  read(userId: string, id: string, options: { after: number; signal?: AbortSignal }): AsyncIterable<LoggedEvent>;
  /**
   * Throws what `read` would (NotFoundError, StreamExpiredError) without reading: lets a route
   * answer 404/410 as a plain response before it commits to an event stream.
   */
  check(userId: string, id: string): Promise<void>;
  /** Stops a running stream from any instance; NotFoundError as for `read`. False when it had already ended. */
  cancel(userId: string, id: string): Promise<boolean>;
  /** Registers how streams of a kind are settled when their producer dies. */
  onLost(kind: StreamKind, handler: LostStreamHandler): void;
  /**
   * Resolves once every producer opened on this instance has ended: graceful shutdown waits
   * on it, so background streams finish (or are cut when the hub's shutdown signal fires).
   */
  drain(): Promise<void>;
  /** Stops sweeping and following; running producers are aborted. */
  close(): Promise<void>;
}
