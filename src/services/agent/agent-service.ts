import type { Config } from '../../config/config.js';
import { AppError, InternalError, UpstreamError } from '../../errors.js';
import { newId } from '../../shared/ids.js';
import type { ToolCall } from '../../storage/storage.js';
import type { CallOptions, ChatCompletion, ChatCompletionMessageParam, ChatModel } from '../../upstream/chat-model.js';
import { isAbort } from '../../upstream/error-mapping.js';
import type { ChatInput, ChatService, NewMessageFields, PreparedTurn, Usage } from '../chat-service.js';
import { anyOf, hasTextAnswer, stepCountIs, type AgentStep } from './stop-conditions.js';
import {
  parseArguments,
  runToolCall,
  toolDefinitions,
  type JsonObject,
  type Tool,
  type ToolCallOutcome,
  type ToolCallRequest,
} from './tools.js';

export interface AgentReply {
  conversationId: string;
  /** The model's final answer, or a note that the iteration limit was reached. */
  message: string;
  /** Every tool call of the request, in the order the model made them. */
  toolCalls: ToolCallOutcome[];
  /** Model calls made. */
  iterations: number;
  /** Summed over every model call. */
  usage: Usage;
}

export type AgentStreamEvent =
  | { type: 'content'; content: string }
  | { type: 'tool_call'; name: string; arguments: JsonObject | string }
  | { type: 'tool_result'; name: string; result: JsonObject }
  | { type: 'usage'; usage: Usage }
  /** Ends the events; `cause` is what failed, for the log. */
  | { type: 'error'; code: string; message: string; cause: unknown };

export interface AgentStream {
  conversationId: string;
  /** Content deltas, tool calls and their results, then the summed usage. Ends early when the call is aborted. */
  events: AsyncIterable<AgentStreamEvent>;
}

export interface AgentServiceDeps {
  chat: ChatService;
  model: ChatModel;
  tools: readonly Tool[];
  config: Pick<Config, 'agentMaxIterations'>;
}

/** What one request of the loop has done so far. */
interface AgentRun {
  userId: string;
  conversationId: string;
  /** The request sent on the next model call: the prepared turn plus every step since. */
  messages: ChatCompletionMessageParam[];
  steps: AgentStep[];
  outcomes: ToolCallOutcome[];
  usage: Usage;
  /** Our count of the prompt, for a model call whose usage the upstream does not report. */
  promptTokens: number;
}


export const iterationLimitMessage = (iterations: number, toolCalls: number): string =>
  `I stopped after ${iterations} model calls (the AGENT_MAX_ITERATIONS limit) before reaching a final answer; ` +
  `${toolCalls} tool call${toolCalls === 1 ? ' was' : 's were'} made.`;

/**
 * The function-calling agent: a chat turn in which the model may call the task
 * tools. Each step calls the model with the tools; its tool calls run
 * concurrently, and the assistant message holding them is stored together with
 * their answers (one transaction, in call order), so the stored history always
 * replays as one the API accepts. The loop ends on a text answer or after
 * AGENT_MAX_ITERATIONS model calls.
 */
export function agentService({ chat, model, tools, config }: AgentServiceDeps) {
  const definitions = toolDefinitions(tools);
  const stopWhen = anyOf(hasTextAnswer, stepCountIs(config.agentMaxIterations));
  const request = (run: AgentRun) => ({ messages: run.messages, tools: definitions });

  function start(input: ChatInput, turn: PreparedTurn): AgentRun {
    return {
      userId: input.userId,
      conversationId: turn.conversationId,
      messages: [...turn.request.messages],
      steps: [],
      outcomes: [],
      usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
      promptTokens: turn.promptTokens,
    };
  }

  /** Adds one model call's usage: as reported, or our own count when the upstream sent none. */
  function addUsage(run: AgentRun, reported: Usage | null | undefined, reply: string): void {
    const completion = chat.countMessage(reply);
    const usage = reported ?? { prompt_tokens: run.promptTokens, completion_tokens: completion, total_tokens: run.promptTokens + completion };
    run.usage.prompt_tokens += usage.prompt_tokens;
    run.usage.completion_tokens += usage.completion_tokens;
    run.usage.total_tokens += usage.total_tokens;
  }

  /** Runs one step's calls concurrently, stores them with their answers and adds both to the next request. */
  async function act(run: AgentRun, text: string, calls: ToolCallRequest[]): Promise<ToolCallOutcome[]> {
    const outcomes = await Promise.all(calls.map((call) => runToolCall(tools, run.userId, call)));
    const toolCalls: ToolCall[] = calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
    const content = text || null;
    const assistant: NewMessageFields = {
      role: 'assistant',
      content,
      toolCalls,
      tokens: chat.countMessage(text + JSON.stringify(toolCalls)),
      status: 'complete',
    };
    const answers: NewMessageFields[] = outcomes.map((outcome) => {
      const result = JSON.stringify(outcome.result);
      return { role: 'tool', content: result, toolCallId: outcome.id, tokens: chat.countMessage(result), status: 'complete' };
    });
    await chat.appendMessages(run.conversationId, [assistant, ...answers]);
    run.messages.push(
      { role: 'assistant', content, tool_calls: toolCalls },
      ...answers.map((a): ChatCompletionMessageParam => ({ role: 'tool', tool_call_id: a.toolCallId ?? '', content: a.content ?? '' })),
    );
    run.promptTokens += assistant.tokens + answers.reduce((sum, a) => sum + a.tokens, 0);
    run.outcomes.push(...outcomes);
    return outcomes;
  }

  /** Stores the answer that ends the turn: the model's text, or the iteration-limit note. */
  async function conclude(run: AgentRun): Promise<{ message: string; limited: boolean }> {
    const limited = !hasTextAnswer(run.steps);
    const message = limited ? iterationLimitMessage(run.steps.length, run.outcomes.length) : run.steps.at(-1)!.text;
    await chat.appendMessage(run.conversationId, { role: 'assistant', content: message, tokens: chat.countMessage(message), status: 'complete' });
    return { message, limited };
  }

  /** Streams one model call: yields content deltas and returns the step, or undefined when aborted. */
  async function* streamStep(run: AgentRun, options: CallOptions): AsyncGenerator<AgentStreamEvent, { text: string; calls: ToolCallRequest[] } | undefined> {
    const chunks = await model.stream(request(run), options);
    let text = '';
    let usage: Usage | undefined;
    // Tool calls arrive as fragments keyed by index: the first carries id and name, the rest pieces of the arguments.
    const calls: ToolCallRequest[] = [];
    let ended = false;
    try {
      for await (const chunk of chunks) {
        if (options.signal?.aborted) break;
        if (chunk.usage) usage = chunk.usage;
        const delta = chunk.choices?.[0]?.delta;
        if (delta?.content) {
          text += delta.content;
          yield { type: 'content', content: delta.content };
        }
        for (const part of delta?.tool_calls ?? []) {
          const call = (calls[part.index] ??= { id: '', name: '', arguments: '' });
          if (part.id) call.id = part.id;
          if (part.function?.name && !call.name) call.name = part.function.name;
          if (part.function?.arguments) call.arguments += part.function.arguments;
        }
      }
      // The SDK ends an aborted stream quietly, as if it were complete.
      ended = !options.signal?.aborted;
    } finally {
      // Cut off (client gone, upstream dropped): keep the text that arrived; unfinished tool calls never ran.
      if (!ended && text) {
        await chat.appendMessage(run.conversationId, { role: 'assistant', content: text, tokens: chat.countMessage(text), status: 'incomplete' });
      }
    }
    if (!ended) return undefined;
    const complete = calls.filter(Boolean).map((call) => ({ ...call, id: call.id || `call_${newId()}` }));
    addUsage(run, usage, text + complete.map((c) => c.name + c.arguments).join(''));
    return { text, calls: complete };
  }

  async function* streamLoop(run: AgentRun, options: CallOptions): AsyncGenerator<AgentStreamEvent> {
    for (;;) {
      const step = yield* streamStep(run, options);
      if (!step) return;
      run.steps.push({ text: step.text, toolCalls: step.calls.length });
      if (step.calls.length) {
        for (const call of step.calls) yield { type: 'tool_call', name: call.name, arguments: parseArguments(call.arguments) };
        for (const outcome of await act(run, step.text, step.calls)) {
          yield { type: 'tool_result', name: outcome.name, result: outcome.result };
        }
      }
      if (stopWhen(run.steps)) break;
      if (options.signal?.aborted) return;
    }
    const { message, limited } = await conclude(run);
    if (limited) yield { type: 'content', content: message };
    yield { type: 'usage', usage: run.usage };
  }

  /** Relays the loop's events after the first; a later failure becomes one `error` event, an abort a quiet end. */
  async function* relay(first: IteratorResult<AgentStreamEvent>, rest: AsyncGenerator<AgentStreamEvent>): AsyncGenerator<AgentStreamEvent> {
    try {
      if (first.done) return;
      yield first.value;
      yield* rest;
    } catch (error) {
      if (isAbort(error)) return;
      const appError = error instanceof AppError ? error : new InternalError({ cause: error });
      yield { type: 'error', code: appError.code, message: appError.message, cause: error };
    } finally {
      await rest.return(undefined);
    }
  }

  return {
    /** One blocking agent turn: loops until a text answer or the iteration limit. */
    async run(input: ChatInput, options: CallOptions = {}): Promise<AgentReply> {
      const run = start(input, await chat.prepareTurn(input));
      for (;;) {
        const completion: ChatCompletion = await model.complete(request(run), options);
        const reply = completion.choices?.[0]?.message;
        if (!reply) throw new UpstreamError('The model provider sent a reply without choices');
        const text = reply.content ?? '';
        const calls = (reply.tool_calls ?? []).flatMap((call) =>
          call.type === 'function' ? [{ id: call.id, name: call.function.name, arguments: call.function.arguments }] : [],
        );
        addUsage(run, completion.usage, text + calls.map((c) => c.name + c.arguments).join(''));
        run.steps.push({ text, toolCalls: calls.length });
        if (calls.length) await act(run, text, calls);
        if (stopWhen(run.steps)) break;
      }
      const { message } = await conclude(run);
      return { conversationId: run.conversationId, message, toolCalls: run.outcomes, iterations: run.steps.length, usage: run.usage };
    },

    /**
     * A streaming agent turn. Resolves once the first event is ready, so that a failure
     * before anything was sent surfaces as a plain error; later failures become an
     * `error` event. A client disconnect (options.signal) aborts the upstream call and
     * stops the loop.
     */
    async stream(input: ChatInput, options: CallOptions = {}): Promise<AgentStream> {
      const run = start(input, await chat.prepareTurn(input));
      const events = streamLoop(run, options);
      const first = await events.next();
      return { conversationId: run.conversationId, events: relay(first, events) };
    },
  };
}

export type AgentService = ReturnType<typeof agentService>;
