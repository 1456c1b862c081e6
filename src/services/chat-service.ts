import type { Config } from '../config/config.js';
import { ContextLengthExceededError, NotFoundError } from '../errors.js';
import { newId } from '../shared/ids.js';
import type { Message, Storage } from '../storage/storage.js';
import type { CallOptions, ChatModel, ChatRequest } from '../upstream/chat-model.js';
import type { HistoryCache, HistorySelection } from './history-cache.js';
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

type ContentEvent = { type: 'content'; content: string };
type ChatStreamEvent = ContentEvent | { type: 'usage'; usage: Usage };

interface ChatStream {
  conversationId: string;
  /**
   * The reply's message id, chosen before the stream starts: the reply is stored under it, so
   * that whoever settles the stream if its producer dies stores it only if it is absent.
   */
  replyId: string;
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
const titleFrom = (message: string): string => {
  const line = message.replace(/\s+/g, ' ').trim();
  return line.length <= TITLE_LENGTH ? line : `${line.slice(0, TITLE_LENGTH - 1).trimEnd()}…`;
};

/** What a caller says about a message to store; order and times are the service's, and so is the id unless given. */
export type NewMessageFields = Pick<Message, 'role' | 'content' | 'tokens' | 'status'> & Partial<Pick<Message, 'id' | 'toolCalls' | 'toolCallId'>>;

interface ChatServiceDeps {
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
        stored.push(await tx.messages.append(newMessage(conversationId, fields, now)));
      }
      return stored;
    });
  }

  const newMessage = (conversationId: string, fields: NewMessageFields, now: string) => ({
    conversationId,
    toolCalls: null,
    toolCallId: null,
    createdAt: now,
    ...fields,
    id: fields.id ?? newId(),
  });

  const appendMessage = async (conversationId: string, fields: NewMessageFields): Promise<Message> =>
    (await appendMessages(conversationId, [fields]))[0]!;

  /** Stores one message under its id unless a message with that id is already stored (then undefined). */
  async function appendMessageIfAbsent(conversationId: string, fields: NewMessageFields & { id: string }): Promise<Message | undefined> {
    const now = new Date().toISOString();
    return storage.transaction(async (tx) => {
      if (!(await tx.conversations.touch(conversationId, now))) throw new NotFoundError('Conversation');
      return tx.messages.appendIfAbsent(newMessage(conversationId, fields, now));
    });
  }

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

    let history: Pick<HistorySelection, 'messages' | 'tokens' | 'json'> | undefined;
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

    const promptTokens = systemTokens + (history?.tokens ?? 0) + userTokens + TOKENS_PER_REPLY;
    return {
      conversationId,
      promptTokens,
      request: {
        messages: [systemMessage, ...(history?.messages ?? []), { role: 'user', content: input.message }],
        serialised: history && { from: 1, count: history.messages.length, json: history.json },
        promptTokens,
      },
    };
  }

  /**
   * One model call of a turn, streamed: its content deltas as events, then what it answered.
   * Cut off (client gone, upstream dropped), the text that arrived is stored under `replyId`, marked incomplete.
   */
  async function* streamReply(conversationId: string, replyId: string, request: ChatRequest, options: CallOptions): AsyncGenerator<ContentEvent, ModelStep> {
    let text = '';
    let ended = false;
    try {
      const step = streamStep(model, request, options);
      let next: IteratorResult<StepDelta, ModelStep>;
      // Tool calls reach the agent's events once whole (its tool_call), not fragment by fragment.
      while (!(next = await step.next()).done) {
        if (next.value.type !== 'text') continue;
        text += next.value.text;
        yield { type: 'content', content: next.value.text };
      }
      ended = true;
      return next.value;
    } finally {
      if (!ended && text) await appendMessage(conversationId, { id: replyId, role: 'assistant', content: text, tokens: countMessage(text), status: 'incomplete' });
    }
  }

  return {
    prepareTurn,
    appendMessage,
    appendMessages,
    appendMessageIfAbsent,
    countMessage,
    streamReply,

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
      const replyId = newId();
      return { conversationId: turn.conversationId, replyId, events: await started(turnEvents(turn, replyId, options)) };
    },
  };

  async function* turnEvents(turn: PreparedTurn, replyId: string, options: CallOptions): AsyncGenerator<ChatStreamEvent> {
    const step = yield* streamReply(turn.conversationId, replyId, turn.request, options);
    const completion = tokens.count(step.text);
    // Stored before the stream says it is done, so a failure to store is its error event.
    await appendMessage(turn.conversationId, { id: replyId, role: 'assistant', content: step.text, tokens: completion + TOKENS_PER_MESSAGE, status: 'complete' });
    yield { type: 'usage', usage: step.usage ?? { prompt_tokens: turn.promptTokens, completion_tokens: completion, total_tokens: turn.promptTokens + completion } };
  }
}

export type ChatService = ReturnType<typeof chatService>;
