import type OpenAI from 'openai';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import type { Config } from '../config/config.js';
import { ProviderNotConfiguredError } from '../errors.js';
import { toUpstreamError } from './error-mapping.js';

export type { ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionTool };

export interface ChatRequest {
  messages: ChatCompletionMessageParam[];
  tools?: ChatCompletionTool[];
}

export interface CallOptions {
  /** Aborts the upstream request at once (client gone, shutdown). */
  signal?: AbortSignal | undefined;
  /** Sent upstream as x-request-id, to follow one request across both logs. */
  requestId?: string | undefined;
}

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

export function chatModel(client: OpenAI | undefined, config: Config['openai']): ChatModel {
  const requireClient = (): OpenAI => {
    if (!client) throw new ProviderNotConfiguredError();
    return client;
  };
  const params = (request: ChatRequest) => ({
    model: config.model,
    messages: request.messages,
    max_completion_tokens: config.maxTokens,
    temperature: config.temperature,
    ...(request.tools?.length && { tools: request.tools }),
  });
  const requestOptions = (options: CallOptions) => ({
    signal: options.signal,
    ...(options.requestId && { headers: { 'x-request-id': options.requestId } }),
  });

  return {
    model: config.model,
    assertConfigured: () => void requireClient(),

    async complete(request, options = {}) {
      try {
        return await requireClient().chat.completions.create(params(request), requestOptions(options));
      } catch (error) {
        throw toUpstreamError(error);
      }
    },

    async stream(request, options = {}) {
      let stream: AsyncIterable<ChatCompletionChunk>;
      try {
        stream = await requireClient().chat.completions.create(
          { ...params(request), stream: true, stream_options: { include_usage: true } },
          requestOptions(options),
        );
      } catch (error) {
        throw toUpstreamError(error);
      }
      return mapErrors(stream);
    },
  };
}

async function* mapErrors<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* source;
  } catch (error) {
    throw toUpstreamError(error);
  }
}
