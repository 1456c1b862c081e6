import type OpenAI from 'openai';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import type { Config } from '../config/config.js';
import { AppError, ProviderNotConfiguredError } from '../errors.js';
import { isAbort, toUpstreamError } from './error-mapping.js';
import { chatRequestBody } from './chat-request-body.js';
import { ATTEMPT_LISTENER } from './openai-client.js';

export type { ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionTool };

export interface ChatRequest {
  messages: readonly ChatCompletionMessageParam[];
  tools?: ChatCompletionTool[];
}

export interface CallOptions {
  /** Aborts the upstream request at once (client gone, shutdown). */
  signal?: AbortSignal | undefined;
  /** Sent upstream as x-request-id, to follow one request across both logs. */
  requestId?: string | undefined;
  /** Told the tokens each upstream call used, once it finished (token budgets). */
  onUsage?: ((usage: TokenUsage) => void) | undefined;
}

export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** What is known about one upstream call when it finished: for metrics and the per-call log line. */
export interface ModelCallObservation {
  model: string;
  stream: boolean;
  /** "success", "aborted", or the contract's error code (e.g. upstream_timeout). */
  outcome: string;
  /** HTTP attempts the SDK made (1 + retries). */
  attempts: number;
  /** From the first attempt to the reply (streams: to the end of the stream). */
  durationMs: number;
  /** As reported upstream; undefined when it reported none. */
  usage: TokenUsage | undefined;
  requestId: string | undefined;
}

export type ModelCallObserver = (call: ModelCallObservation) => void;

/**
 * Chat completions through the SDK with the configured model and generation
 * settings. Every error leaves here already mapped to the contract's table.
 */
export interface ChatModel {
  readonly model: string;
  /** Throws 503 provider_not_configured when no provider is set: check before doing any work. */
  assertConfigured(): void;
  complete(request: ChatRequest, options?: CallOptions): Promise<ChatCompletion>;
  /** Resolves once the upstream accepted the request; the chunks may still fail (mapped too). */
  stream(request: ChatRequest, options?: CallOptions): Promise<AsyncIterable<ChatCompletionChunk>>;
}

const outcomeOf = (error: unknown): string =>
  isAbort(error) ? 'aborted' : error instanceof AppError ? error.code : 'internal_error';

/**
 * Chat completions with the configured model; `observe` (metrics, logs) is told about
 * every call when it finishes, so this file needs no metrics library.
 */
export function chatModel(client: OpenAI | undefined, config: Config['openai'], observe?: ModelCallObserver): ChatModel {
  const requireClient = (): OpenAI => {
    if (!client) throw new ProviderNotConfiguredError();
    return client;
  };
  const fields = (request: ChatRequest) => ({
    model: config.model,
    max_completion_tokens: config.maxTokens,
    temperature: config.temperature,
    ...(request.tools?.length && { tools: request.tools }),
  });
  /**
   * POST /chat/completions through the SDK's own request path (retries, backoff,
   * timeouts, error classes, SSE parsing: what `chat.completions.create` calls), with
   * the body already serialised: see chatRequestBody.
   */
  function post<T>(openai: OpenAI, body: Uint8Array, stream: boolean, call: ReturnType<typeof track>): Promise<T> {
    return openai.post<T>('/chat/completions', { ...call.requestOptions, body, stream }) as Promise<T>;
  }
  /** Per-call bookkeeping: started at the first attempt, finished once (success, error or stream end). */
  function track(options: CallOptions, stream: boolean) {
    const started = performance.now();
    let attempts = 0;
    return {
      requestOptions: {
        signal: options.signal,
        // The body goes as UTF-8 JSON already made (see post).
        headers: { 'content-type': 'application/json', ...(options.requestId && { 'x-request-id': options.requestId }) },
        // The SDK copies fetchOptions into every attempt's fetch; our fetch calls this back.
        fetchOptions: { [ATTEMPT_LISTENER]: () => void attempts++ } as {},
      },
      finish(outcome: string, usage: TokenUsage | undefined): void {
        if (usage) options.onUsage?.(usage);
        observe?.({
          model: config.model,
          stream,
          outcome,
          attempts,
          durationMs: performance.now() - started,
          usage,
          requestId: options.requestId,
        });
      },
    };
  }

  return {
    model: config.model,
    assertConfigured: () => void requireClient(),

    async complete(request, options = {}) {
      const openai = requireClient();
      const call = track(options, false);
      try {
        const completion = await post<ChatCompletion>(openai, chatRequestBody(fields(request), request.messages), false, call);
        call.finish('success', completion.usage ?? undefined);
        return completion;
      } catch (error) {
        const mapped = toUpstreamError(error);
        call.finish(outcomeOf(mapped), undefined);
        throw mapped;
      }
    },

    async stream(request, options = {}) {
      const openai = requireClient();
      const call = track(options, true);
      let stream: AsyncIterable<ChatCompletionChunk>;
      try {
        const body = chatRequestBody({ ...fields(request), stream: true, stream_options: { include_usage: true } }, request.messages);
        stream = await post<AsyncIterable<ChatCompletionChunk>>(openai, body, true, call);
      } catch (error) {
        const mapped = toUpstreamError(error);
        call.finish(outcomeOf(mapped), undefined);
        throw mapped;
      }
      return observed(stream, call, options.signal);
    },
  };
}

/** Relays the chunks, mapping errors; the call is finished when the stream ends, however it ends. */
async function* observed(
  source: AsyncIterable<ChatCompletionChunk>,
  call: { finish(outcome: string, usage: TokenUsage | undefined): void },
  signal: AbortSignal | undefined,
): AsyncGenerator<ChatCompletionChunk> {
  let usage: TokenUsage | undefined;
  let outcome = 'aborted'; // the consumer stopped early (return()) unless we learn otherwise
  try {
    for await (const chunk of source) {
      if (chunk.usage) usage = chunk.usage;
      yield chunk;
    }
    // The SDK ends an aborted stream quietly, as if it were complete.
    outcome = signal?.aborted ? 'aborted' : 'success';
  } catch (error) {
    const mapped = toUpstreamError(error);
    outcome = outcomeOf(mapped);
    throw mapped;
  } finally {
    call.finish(outcome, usage);
  }
}
