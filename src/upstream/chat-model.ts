import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionMessageParam,
  ChatCompletionTool,
  ChatCompletionToolChoiceOption,
} from 'openai/resources/chat/completions';
import type { Config } from '../config/config.js';
import { ProviderNotConfiguredError } from '../errors.js';
import { toRelayError, toUpstreamError } from './error-mapping.js';
import { answerEvents, postModelCall, readAnswer, startModelCall, type CallOptions, type ModelCall, type ModelCallObserver } from './model-call.js';
import { ProviderProtocolError } from './provider-errors.js';
import { readJson, type Transport, type UpstreamResponse } from './transport.js';

export type { ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionTool };
export type { CallOptions, TokenUsage } from './model-call.js';

export interface ChatRequest {
  messages: readonly ChatCompletionMessageParam[];
  /**
   * The JSON of `count` of the messages from `from` on, made beforehand (joined by commas,
   * UTF-8), sent as it is: a conversation's history, sent again each turn, is serialised
   * once (history cache). Measured (`npm run bench:builds`, a 1,000-message conversation,
   * instant fake, c=32): see history-cache.ts.
   */
  serialised?: { from: number; count: number; json: Buffer } | undefined;
  tools?: ChatCompletionTool[];
  /** Our count of the prompt, when the caller made one (token budgets reserve it). */
  promptTokens?: number | undefined;
  /**
   * A client's own generation settings (/v1/responses): sent instead of OPENAI_MODEL,
   * OPENAI_MAX_TOKENS and OPENAI_TEMPERATURE, and only the fields given. The provider's 4xx
   * to such a request is then the client's: relayed as ProviderRejectedError (toRelayError).
   */
  settings?: ChatSettings | undefined;
}

interface ChatSettings {
  model: string;
  temperature?: number | undefined;
  topP?: number | undefined;
  maxTokens?: number | undefined;
  toolChoice?: ChatCompletionToolChoiceOption | undefined;
  parallelToolCalls?: boolean | undefined;
}

/**
 * Chat completions with the configured model and generation settings, over the one
 * transport. Every error leaves here already mapped to the contract's table.
 */
export interface ChatModel {
  readonly model: string;
  /** Throws 503 provider_not_configured when no provider is set: check before doing any work. */
  assertConfigured(): void;
  complete(request: ChatRequest, options?: CallOptions): Promise<ChatCompletion>;
  /**
   * Resolves once the upstream accepted the request; the chunks may still fail (mapped
   * too). An abort ends them with an AbortError; stopping early aborts the upstream request.
   */
  stream(request: ChatRequest, options?: CallOptions): Promise<AsyncIterable<ChatCompletionChunk>>;
}

/**
 * Chat completions with the configured model; `observe` (metrics, logs) is told about
 * every call when it finishes, so this file needs no metrics library.
 */
export function chatModel(transport: Transport | undefined, config: Config['openai'], observe?: ModelCallObserver): ChatModel {
  const requireTransport = (): Transport => {
    if (!transport) throw new ProviderNotConfiguredError();
    return transport;
  };
  const generation = ({ settings: s }: ChatRequest) =>
    s
      ? {
          model: s.model,
          ...(s.maxTokens !== undefined && { max_completion_tokens: s.maxTokens }),
          ...(s.temperature !== undefined && { temperature: s.temperature }),
          ...(s.topP !== undefined && { top_p: s.topP }),
          ...(s.toolChoice !== undefined && { tool_choice: s.toolChoice }),
          ...(s.parallelToolCalls !== undefined && { parallel_tool_calls: s.parallelToolCalls }),
        }
      : { model: config.model, max_completion_tokens: config.maxTokens, temperature: config.temperature };
  const body = (request: ChatRequest, stream: boolean): string | Buffer => {
    const fields = JSON.stringify({
      ...generation(request),
      ...(request.tools?.length && { tools: request.tools }),
      ...(stream && { stream: true, stream_options: { include_usage: true } }),
    });
    const head = `${fields.slice(0, -1)},"messages":[`;
    const { messages, serialised: s } = request;
    const json = (from: number, to: number) => messages.slice(from, to).map((m) => JSON.stringify(m));
    if (!s?.count) return `${head}${json(0, messages.length).join(',')}]}`;
    const before = json(0, s.from);
    const after = json(s.from + s.count, messages.length);
    return Buffer.concat([
      Buffer.from(before.length ? `${head}${before.join(',')},` : head),
      s.json,
      Buffer.from(after.length ? `,${after.join(',')}]}` : ']}'),
    ]);
  };

  const modelOf = (request: ChatRequest) => request.settings?.model ?? config.model;
  const mapError = (request: ChatRequest) => (request.settings ? toRelayError : toUpstreamError);
  const expected = (request: ChatRequest) => ({ promptTokens: request.promptTokens, maxReplyTokens: request.settings?.maxTokens ?? config.maxTokens });

  return {
    model: config.model,
    assertConfigured: () => void requireTransport(),

    async complete(request, options = {}) {
      const call = startModelCall(observe, { model: modelOf(request), stream: false }, options);
      const response = await postModelCall(requireTransport(), 'chat/completions', body(request, false), call, options, expected(request), mapError(request));
      const completion = await readAnswer(call, options.signal, async () => {
        const answer = await readJson<ChatCompletion>(response);
        if (!Array.isArray(answer?.choices)) throw new ProviderProtocolError('The model provider sent a reply without choices');
        return answer;
      });
      call.finish('success', completion.usage ?? undefined);
      return completion;
    },

    async stream(request, options = {}) {
      const call = startModelCall(observe, { model: modelOf(request), stream: true }, options);
      const response = await postModelCall(requireTransport(), 'chat/completions', body(request, true), call, options, expected(request), mapError(request));
      return completionChunks(response, call, options.signal);
    },
  };
}

/**
 * The chunks of a streamed completion as they arrive. The call is finished when they
 * end, however they end; stopping early destroys the body, which aborts the request.
 */
async function* completionChunks(response: UpstreamResponse, call: ModelCall, signal: AbortSignal | undefined): AsyncGenerator<ChatCompletionChunk> {
  for await (const data of answerEvents(response, call, signal)) {
    if (data === '[DONE]') continue; // the body ends right after it
    let chunk: ChatCompletionChunk & { error?: unknown };
    try {
      chunk = JSON.parse(data) as typeof chunk;
    } catch (error) {
      throw new ProviderProtocolError('The model provider sent a stream event we could not read', { cause: error });
    }
    if (chunk.error) throw new ProviderProtocolError('The model provider failed mid-stream', { cause: chunk.error });
    if (chunk.usage) call.usage = chunk.usage;
    yield chunk;
  }
}
