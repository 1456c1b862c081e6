import { AppError } from '../errors.js';
import { isAbort, readFailure, toUpstreamError } from './error-mapping.js';
import { eventData } from './event-stream.js';
import type { Transport, UpstreamResponse } from './transport.js';

export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface CallOptions {
  /** Aborts the upstream request at once (client gone, shutdown). */
  signal?: AbortSignal | undefined;
  /** Sent upstream as x-request-id, to follow one request across both logs. */
  requestId?: string | undefined;
  /** Told the tokens each upstream call used, once it finished (token budgets). */
  onUsage?: ((usage: TokenUsage) => void) | undefined;
}

/** What is known about one upstream call when it finished: for metrics and the per-call log line. */
export interface ModelCallObservation {
  model: string;
  /** What was called: chat completions (streamed or not), or embeddings. */
  endpoint: 'chat' | 'embeddings';
  stream: boolean;
  /** "success", "aborted", or the contract's error code (e.g. upstream_timeout). */
  outcome: string;
  /** HTTP attempts made (1 + retries). */
  attempts: number;
  /** From the first attempt to the reply (streams: to the end of the stream). */
  durationMs: number;
  /** As reported upstream; undefined when it reported none. */
  usage: TokenUsage | undefined;
  requestId: string | undefined;
}

export type ModelCallObserver = (call: ModelCallObservation) => void;

/** One upstream call's bookkeeping: attempts counted as they start, finished exactly once. */
export interface ModelCall {
  readonly onAttempt: () => void;
  /** The usage seen so far (a stream's usage chunk): what `finish` reports when given none. */
  usage: TokenUsage | undefined;
  finish(outcome: string, usage?: TokenUsage | undefined): void;
}

export function startModelCall(
  observe: ModelCallObserver | undefined,
  what: { model: string; endpoint: ModelCallObservation['endpoint']; stream: boolean },
  options: CallOptions,
): ModelCall {
  const started = performance.now();
  let attempts = 0;
  let finished = false;
  const call: ModelCall = {
    onAttempt: () => void attempts++,
    usage: undefined,
    finish(outcome, usage = call.usage) {
      if (finished) return;
      finished = true;
      if (usage && usage.total_tokens > 0) options.onUsage?.(usage);
      observe?.({ ...what, outcome, attempts, durationMs: performance.now() - started, usage, requestId: options.requestId });
    },
  };
  return call;
}

/** How a call ended, for metrics and logs: "aborted", the contract's error code, or internal_error. */
export const outcomeOf = (error: unknown): string =>
  isAbort(error) ? 'aborted' : error instanceof AppError ? error.code : 'internal_error';

/**
 * POSTs one model call's JSON body. When no answer comes (after the transport's retries),
 * the call is finished as failed and the error, mapped by `mapError`, is thrown.
 */
export async function postModelCall(
  transport: Transport,
  path: string,
  body: string | Buffer,
  call: ModelCall,
  options: CallOptions & { maxRetries?: number | undefined; timeoutMs?: number | undefined },
  mapError: (error: unknown) => unknown = toUpstreamError,
): Promise<UpstreamResponse> {
  try {
    return await transport.send({
      method: 'POST',
      path,
      body,
      signal: options.signal,
      requestId: options.requestId,
      maxRetries: options.maxRetries,
      timeoutMs: options.timeoutMs,
      onAttempt: call.onAttempt,
    });
  } catch (error) {
    const mapped = mapError(error);
    call.finish(outcomeOf(mapped), undefined);
    throw mapped;
  }
}

/**
 * The events' data of a streamed answer as they arrive, with the call's bookkeeping: the
 * call is finished when they end, however they end (with `call.usage` as last set), a
 * failure is mapped, and stopping early destroys the body, which aborts the request.
 */
export async function* answerEvents(response: UpstreamResponse, call: ModelCall, signal: AbortSignal | undefined): AsyncGenerator<string> {
  let outcome = 'aborted'; // the consumer stopped early unless we learn otherwise
  try {
    yield* eventData(response.body);
    outcome = 'success';
  } catch (error) {
    const mapped = readFailure(error, signal);
    outcome = outcomeOf(mapped);
    throw mapped;
  } finally {
    if (!response.body.readableEnded) response.body.destroy();
    call.finish(outcome);
  }
}
