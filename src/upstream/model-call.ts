import { AppError } from '../errors.js';
import { isAbort, readFailure, toUpstreamError } from './error-mapping.js';
import { eventData } from './event-stream.js';
import type { Transport, UpstreamResponse } from './transport.js';

export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** What a model call is expected to use, asked of its key's budget before it goes upstream. */
interface ModelCallEstimate {
  model: string;
  /** Counted when the caller knows it, else estimated from the request's size. */
  promptTokens: number;
  /** The most the reply may use (the request's max tokens); 0 for calls with no reply, such as embeddings. */
  maxReplyTokens: number;
}

/**
 * Settles a call's reservation with what it really used, as the provider reported it;
 * `null` when it used nothing (it failed before an answer), `undefined` when that is
 * unknown (cut off mid-stream: what is held stays held).
 */
type SettleTokens = (usage: { total_tokens: number; completion_tokens: number } | null | undefined) => void;

/** A key's TOKENS_PER_MINUTE as one call sees it (limits/token-budget.ts): hold the expected tokens first, settle with the real ones after. */
export interface TokenBudget {
  /** Throws 429 rate_limited when the expected tokens do not fit what is left of this minute. */
  reserve(estimate: ModelCallEstimate): Promise<SettleTokens>;
}

export interface CallOptions {
  /** Aborts the upstream request at once (client gone, shutdown). */
  signal?: AbortSignal | undefined;
  /** Sent upstream as x-request-id, to follow one request across both logs. */
  requestId?: string | undefined;
  /** The caller's TOKENS_PER_MINUTE: each call reserves its expected tokens first and settles after. */
  budget?: TokenBudget | undefined;
  /** Whose usage the call is (the usage ledger): the caller, or the owner of the task embedded. */
  userId?: string | undefined;
}

/** What is known about one upstream call when it finished: for metrics and the per-call log line. */
export interface ModelCallObservation {
  model: string;
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
  userId: string | undefined;
}

export type ModelCallObserver = (call: ModelCallObservation) => void;

/** One upstream call's bookkeeping: attempts counted as they start, finished exactly once. */
export interface ModelCall {
  readonly model: string;
  readonly onAttempt: () => void;
  /** The call's token reservation, once made (postModelCall). */
  settle: SettleTokens | undefined;
  /** The usage seen so far (a stream's usage chunk): what `finish` reports when given none. */
  usage: TokenUsage | undefined;
  finish(outcome: string, usage?: TokenUsage | undefined): void;
}

export function startModelCall(
  observe: ModelCallObserver | undefined,
  what: { model: string; stream: boolean },
  options: CallOptions,
): ModelCall {
  const started = performance.now();
  let attempts = 0;
  let finished = false;
  const call: ModelCall = {
    model: what.model,
    onAttempt: () => void attempts++,
    settle: undefined,
    usage: undefined,
    finish(outcome, usage = call.usage) {
      if (finished) return;
      finished = true;
      // Without usage: an aborted call may have cost tokens (what is held stays); a failed one cost none.
      call.settle?.(usage ?? (outcome === 'aborted' ? undefined : null));
      observe?.({ ...what, outcome, attempts, durationMs: performance.now() - started, usage, requestId: options.requestId, userId: options.userId });
    },
  };
  return call;
}

/** How a call ended, for metrics and logs: "aborted", the contract's error code, or internal_error. */
const outcomeOf = (error: unknown): string =>
  isAbort(error) ? 'aborted' : error instanceof AppError ? error.code : 'internal_error';

/**
 * POSTs one model call's JSON body, after reserving its expected tokens in the caller's
 * budget (refused: 429, and nothing is sent). When no answer comes (after the transport's
 * retries), the call is finished as failed and the error, mapped by `mapError`, is thrown.
 */
export async function postModelCall(
  transport: Transport,
  path: string,
  body: string | Buffer,
  call: ModelCall,
  options: CallOptions & { maxRetries?: number | undefined; timeoutMs?: number | undefined },
  expected: Partial<Pick<ModelCallEstimate, 'promptTokens'>> & Pick<ModelCallEstimate, 'maxReplyTokens'>,
  mapError: (error: unknown) => unknown = toUpstreamError,
): Promise<UpstreamResponse> {
  if (options.budget) {
    // A JSON request runs about 4 bytes a token, and its keys and quotes make that an overestimate.
    const promptTokens = expected.promptTokens ?? Math.ceil(Buffer.byteLength(body) / 4);
    call.settle = await options.budget.reserve({ model: call.model, promptTokens, maxReplyTokens: expected.maxReplyTokens });
  }
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
 * Reads a whole answer's body with `read`. A failure on the way (a body cut off or gone
 * silent, one that is not what it should be, an abort) finishes the call as failed and
 * is thrown, mapped; the caller finishes it on success, with the usage it found.
 */
export async function readAnswer<T>(call: ModelCall, signal: AbortSignal | undefined, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    const mapped = readFailure(error, signal);
    call.finish(outcomeOf(mapped));
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
