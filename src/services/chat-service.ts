import type { Config } from '../config/config.js';
import { ContextLengthExceededError, NotFoundError } from '../errors.js';
import { newId } from '../shared/ids.js';
import type { Message, MessageStatus, Storage } from '../storage/storage.js';
import type { CallOptions, ChatCompletionMessageParam, ChatModel, ChatRequest } from '../upstream/chat-model.js';
import type { HistoryCache } from './history-cache.js';
import { completeStep, started, streamStep, type ModelStep, type StepDelta, type StreamErrorEvent } from './model-step.js';
import { TOKENS_PER_MESSAGE, TOKENS_PER_REPLY, type TokenCounter } from './token-counter.js';

export interface ChatInput {
  userId: string;
  message: string;
  /** Continue this conversation (the caller's own); a new one when absent. */
  conversationId?: string | undefined;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ChatReply {
  conversationId: string;
  message: string;
  tokensUsed: number;
}

export type ChatStreamEvent = { type: 'content'; content: string } | { type: 'usage'; usage: Usage };

export interface ChatStream {
  conversationId: string;
  /** Content deltas, then usage; an error event ends them. Ends early (after storing the partial reply) when the call is aborted. */
  events: AsyncIterable<ChatStreamEvent | StreamErrorEvent>;
}

/** A turn made ready for the model: the user message is already stored. */
export interface PreparedTurn {
  conversationId: string;
  request: ChatRequest;
  /** Our own count of the prompt, used when the upstream reports no usage. */
  promptTokens: number;
}

const TITLE_LENGTH = 80;
export const titleFrom = (message: string): string => {
  const line = message.replace(/\s+/g, ' ').trim();
  return line.length <= TITLE_LENGTH ? line : `${line.slice(0, TITLE_LENGTH - 1).trimEnd()}…`;
};

/** What a caller says about a message to store; ids, order and times are the service's. */
export type NewMessageFields = Pick<Message, 'role' | 'content' | 'tokens' | 'status'> & Partial<Pick<Message, 'toolCalls' | 'toolCallId'>>;

export interface ChatServiceDeps {
  storage: Storage;
  model: ChatModel;
  tokens: TokenCounter;
  /** Where a turn's history comes from: the newest stored messages that fit, kept per instance. */
  history: HistoryCache;
  config: Pick<Config, 'systemPrompt' | 'historyMaxTokens'>;
}

/**
 * Chat over stored conversations: the user message is stored before the model is
 * called, the reply after; the history sent is the system prompt plus the newest
 * messages that fit HISTORY_MAX_TOKENS.
 */
export function chatService({ storage, model, tokens, history: historyCache, config }: ChatServiceDeps) {
  const systemTokens = tokens.count(config.systemPrompt) + TOKENS_PER_MESSAGE;
  const systemMessage = Object.freeze({ role: 'system' as const, content: config.systemPrompt });
  const countMessage = (content: string) => tokens.count(content) + TOKENS_PER_MESSAGE;

  /**
   * Stores messages of one conversation, in order, in one transaction (an agent's
   * tool-call message and its answers go in together). Every write to a conversation
   * touches its row first: on PostgreSQL that row lock serialises writers, so message
   * order (seq) is commit order and a group is never interleaved with another turn.
   * A conversation deleted meanwhile (by its owner, while the model answered) is not found.
   */
  async function appendMessages(conversationId: string, messages: NewMessageFields[]): Promise<Message[]> {
    const now = new Date().toISOString();
    return storage.transaction(async (tx) => {
      if (!(await tx.conversations.touch(conversationId, now))) throw new NotFoundError('Conversation');
      const stored: Message[] = [];
      for (const fields of messages) {
        stored.push(await tx.messages.append({ id: newId(), conversationId, toolCalls: null, toolCallId: null, createdAt: now, ...fields }));
      }
      return stored;
    });
  }

  const appendMessage = async (conversationId: string, fields: NewMessageFields): Promise<Message> =>
    (await appendMessages(conversationId, [fields]))[0]!;

  /**
   * Checks the message fits, resolves the conversation, reads the history that fits
   * and stores the user message: everything before the model call.
   */
  async function prepareTurn(input: ChatInput): Promise<PreparedTurn> {
    model.assertConfigured();
    const room = config.historyMaxTokens - systemTokens - TOKENS_PER_REPLY - TOKENS_PER_MESSAGE;
    const contentTokens = room > 0 ? tokens.countWithin(input.message, room) : false;
    if (contentTokens === false) {
      throw new ContextLengthExceededError(
        `The message alone exceeds the history budget of ${config.historyMaxTokens} tokens (HISTORY_MAX_TOKENS)`,
      );
    }
    const userTokens = contentTokens + TOKENS_PER_MESSAGE;

    let history: { messages: readonly ChatCompletionMessageParam[]; tokens: number } = { messages: [], tokens: 0 };
    const now = new Date().toISOString();
    const userMessage = {
      id: newId(),
      role: 'user' as const,
      content: input.message,
      tokens: userTokens,
      status: 'complete' as const,
      toolCalls: null,
      toolCallId: null,
      createdAt: now,
    };
    let conversationId = input.conversationId;
    if (conversationId) {
      const id = conversationId;
      if (!(await storage.conversations.get(input.userId, id))) throw new NotFoundError('Conversation');
      history = await historyCache.select(id, room - contentTokens);
      await storage.transaction(async (tx) => {
        if (!(await tx.conversations.touch(id, now, titleFrom(input.message)))) throw new NotFoundError('Conversation');
        await tx.messages.append({ ...userMessage, conversationId: id });
      });
    } else {
      const id = newId();
      conversationId = id;
      await storage.transaction(async (tx) => {
        await tx.conversations.create({ id, userId: input.userId, title: titleFrom(input.message), createdAt: now, updatedAt: now });
        await tx.messages.append({ ...userMessage, conversationId: id });
      });
    }

    const promptTokens = systemTokens + history.tokens + userTokens + TOKENS_PER_REPLY;
    return {
      conversationId,
      promptTokens,
      request: {
        messages: [systemMessage, ...history.messages, { role: 'user', content: input.message }],
        promptTokens,
      },
    };
  }

  return {
    prepareTurn,
    appendMessage,
    appendMessages,
    countMessage,

    /** One blocking turn: stores both messages and returns the reply. */
    async reply(input: ChatInput, options: CallOptions = {}): Promise<ChatReply> {
      const turn = await prepareTurn(input);
      const step = await completeStep(model, turn.request, options);
      const replyTokens = countMessage(step.text);
      await appendMessage(turn.conversationId, { role: 'assistant', content: step.text, tokens: replyTokens, status: 'complete' });
      return {
        conversationId: turn.conversationId,
        message: step.text,
        tokensUsed: step.usage?.total_tokens ?? turn.promptTokens + replyTokens,
      };
    },

    /**
     * A streaming turn. Resolves once the first token has arrived, so that any failure
     * before it surfaces as a plain error; later failures become an `error` event.
     * The reply is stored when the stream ends: complete, or incomplete with what
     * arrived when the upstream dropped or the call was aborted (client gone).
     */
    async stream(input: ChatInput, options: CallOptions = {}): Promise<ChatStream> {
      const turn = await prepareTurn(input);
      return { conversationId: turn.conversationId, events: await started(turnEvents(turn, options)) };
    },
  };

  async function* turnEvents(turn: PreparedTurn, options: CallOptions): AsyncGenerator<ChatStreamEvent> {
    let text = '';
    let stored = false;
    const store = (status: MessageStatus) => {
      stored = true;
      return appendMessage(turn.conversationId, { role: 'assistant', content: text, tokens: countMessage(text), status });
    };
    try {
      const step = streamStep(model, turn.request, options);
      let next: IteratorResult<StepDelta, ModelStep>;
      while (!(next = await step.next()).done) {
        if (next.value.type !== 'text') continue;
        text += next.value.text;
        yield { type: 'content', content: next.value.text };
      }
      // Stored before the stream says it is done, so a failure to store is its error event.
      await store('complete');
      const completionTokens = tokens.count(text);
      yield {
        type: 'usage',
        usage: next.value.usage ?? {
          prompt_tokens: turn.promptTokens,
          completion_tokens: completionTokens,
          total_tokens: turn.promptTokens + completionTokens,
        },
      };
    } finally {
      // Cut off (client gone, upstream dropped): what arrived is kept, marked incomplete.
      if (!stored && text) await store('incomplete');
    }
  }
}

export type ChatService = ReturnType<typeof chatService>;
