import type { Config } from '../../config/config.js';
import { derivedId, newId } from '../../shared/ids.js';
import type { ToolCall } from '../../storage/storage.js';
import type { CallOptions, ChatCompletionMessageParam, ChatModel, ChatRequest } from '../../upstream/chat-model.js';
import type { ChatInput, ChatService, NewMessageFields, PreparedTurn, Usage } from '../chat-service.js';
import { completeStep, started, type ModelStep, type StreamErrorEvent } from '../model-step.js';
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

interface AgentReply {
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

type AgentStreamEvent =
  | { type: 'content'; content: string }
  | { type: 'tool_call'; name: string; arguments: JsonObject | string }
  | { type: 'tool_result'; name: string; result: JsonObject }
  | { type: 'usage'; usage: Usage };

interface AgentStream {
  conversationId: string;
  /**
   * Names the assistant messages of the turn, chosen before the stream starts: step n's is
   * `derivedId(replyId, n)` (n counts model calls from 0; the iteration-limit note is one step
   * more), so that whoever settles the stream if its producer dies stores a step only if absent.
   */
  replyId: string;
  /** Content deltas, tool calls and their results, then the summed usage; an error event ends them. Ends early when the call is aborted. */
  events: AsyncIterable<AgentStreamEvent | StreamErrorEvent>;
}

interface AgentServiceDeps {
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
  /** The prepared turn's history, serialised (see ChatRequest.serialised); the steps are appended after it. */
  serialised: ChatRequest['serialised'];
  steps: AgentStep[];
  outcomes: ToolCallOutcome[];
  usage: Usage;
  /** Our count of the prompt, for a model call whose usage the upstream does not report. */
  promptTokens: number;
  /** The answer that ended the turn, once stored. */
  message: string;
  /** See AgentStream.replyId. */
  replyId: string;
}


const iterationLimitMessage = (iterations: number, toolCalls: number): string =>
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
  const request = (run: AgentRun): ChatRequest => ({ messages: run.messages, serialised: run.serialised, tools: definitions, promptTokens: run.promptTokens });

  function start(input: ChatInput, turn: PreparedTurn): AgentRun {
    return {
      userId: input.userId,
      conversationId: turn.conversationId,
      messages: [...turn.request.messages],
      serialised: turn.request.serialised,
      steps: [],
      outcomes: [],
      usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
      promptTokens: turn.promptTokens,
      message: '',
      replyId: newId(),
    };
  }

  /** The id of step `n`'s assistant message (see AgentStream.replyId). */
  const stepMessageId = (run: AgentRun, n: number) => derivedId(run.replyId, n);

  /** Adds one model call's usage: as reported, or our own count when the upstream sent none. */
  function addUsage(run: AgentRun, step: ModelStep): void {
    let usage = step.usage;
    if (!usage) {
      const completion = chat.countMessage(step.text + step.calls.map((c) => c.name + c.arguments).join(''));
      usage = { prompt_tokens: run.promptTokens, completion_tokens: completion, total_tokens: run.promptTokens + completion };
    }
    run.usage.prompt_tokens += usage.prompt_tokens;
    run.usage.completion_tokens += usage.completion_tokens;
    run.usage.total_tokens += usage.total_tokens;
  }

  /** Runs one step's calls concurrently, stores them with their answers and adds both to the next request. */
  async function act(run: AgentRun, text: string, calls: ToolCallRequest[], options: CallOptions): Promise<ToolCallOutcome[]> {
    const outcomes = await Promise.all(calls.map((call) => runToolCall(tools, run.userId, call, options)));
    const toolCalls: ToolCall[] = calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
    const content = text || null;
    const assistant: NewMessageFields = {
      id: stepMessageId(run, run.steps.length - 1),
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
    const step = limited ? run.steps.length : run.steps.length - 1;
    await chat.appendMessage(run.conversationId, {
      id: stepMessageId(run, step),
      role: 'assistant',
      content: message,
      tokens: chat.countMessage(message),
      status: 'complete',
    });
    return { message, limited };
  }

  /** One model call answered whole: no events on the way. */
  async function* wholeStep(run: AgentRun, options: CallOptions): AsyncGenerator<AgentStreamEvent, ModelStep> {
    return completeStep(model, request(run), options);
  }

  /** One model call streamed: its content deltas as events; cut off, the text that arrived is kept (unfinished tool calls never ran). */
  const streamedStep = (run: AgentRun, options: CallOptions) =>
    chat.streamReply(run.conversationId, stepMessageId(run, run.steps.length), request(run), options);

  /**
   * The loop, blocking or streamed alike (`step` makes each model call): the model's tool
   * calls run and are stored with their answers, until the stopping rule holds; then the
   * answer that ends the turn is stored.
   */
  async function* loop(run: AgentRun, step: typeof wholeStep, options: CallOptions): AsyncGenerator<AgentStreamEvent> {
    for (;;) {
      const answer = yield* step(run, options);
      addUsage(run, answer);
      run.steps.push({ text: answer.text, toolCalls: answer.calls.length });
      if (answer.calls.length) {
        for (const call of answer.calls) yield { type: 'tool_call', name: call.name, arguments: parseArguments(call.arguments) };
        for (const outcome of await act(run, answer.text, answer.calls, options)) {
          yield { type: 'tool_result', name: outcome.name, result: outcome.result };
        }
      }
      if (stopWhen(run.steps)) break;
    }
    const { message, limited } = await conclude(run);
    run.message = message;
    if (limited) yield { type: 'content', content: message };
    yield { type: 'usage', usage: run.usage };
  }

  return {
    /** One blocking agent turn: loops until a text answer or the iteration limit. */
    async run(input: ChatInput, options: CallOptions = {}): Promise<AgentReply> {
      const run = start(input, await chat.prepareTurn(input));
      for await (const _event of loop(run, wholeStep, options));
      return { conversationId: run.conversationId, message: run.message, toolCalls: run.outcomes, iterations: run.steps.length, usage: run.usage };
    },

    /**
     * A streaming agent turn. Resolves once the first event is ready, so that a failure
     * before anything was sent surfaces as a plain error; later failures become an
     * `error` event. A client disconnect (options.signal) aborts the upstream call and
     * stops the loop.
     */
    async stream(input: ChatInput, options: CallOptions = {}): Promise<AgentStream> {
      const run = start(input, await chat.prepareTurn(input));
      return { conversationId: run.conversationId, replyId: run.replyId, events: await started(loop(run, streamedStep, options)) };
    },
  };
}

export type AgentService = ReturnType<typeof agentService>;
