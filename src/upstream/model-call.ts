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
  finish(outcome: string, usage: TokenUsage | undefined): void;
}

export function startModelCall(
  observe: ModelCallObserver | undefined,
  what: { model: string; endpoint: ModelCallObservation['endpoint']; stream: boolean },
  options: CallOptions,
): ModelCall {
  const started = performance.now();
  let attempts = 0;
  let finished = false;
  return {
    onAttempt: () => void attempts++,
    finish(outcome, usage) {
      if (finished) return;
      finished = true;
      if (usage && usage.total_tokens > 0) options.onUsage?.(usage);
      observe?.({ ...what, outcome, attempts, durationMs: performance.now() - started, usage, requestId: options.requestId });
    },
  };
}
