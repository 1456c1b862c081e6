import { AppError, InternalError, UpstreamError } from '../errors.js';
import { newId } from '../shared/ids.js';
import type { CallOptions, ChatModel, ChatRequest } from '../upstream/chat-model.js';
import { isAbort } from '../upstream/error-mapping.js';
import type { TokenUsage } from '../upstream/model-call.js';
import type { ToolCallRequest } from './agent/tools.js';

/** What one model call answered: its text, the tools it called, and its usage as reported. */
export interface ModelStep {
  text: string;
  calls: ToolCallRequest[];
  /** Undefined when the upstream reported none. */
  usage: TokenUsage | undefined;
  /** Why the model stopped (`stop`, `length`, `tool_calls`…), when the upstream said. */
  finishReason?: string | undefined;
}

/** One model call, answered whole. */
export async function completeStep(model: ChatModel, request: ChatRequest, options: CallOptions): Promise<ModelStep> {
  const completion = await model.complete(request, options);
  const choice = completion.choices?.[0];
  const reply = choice?.message;
  if (!reply) throw new UpstreamError('The model provider sent a reply without choices');
  const calls = (reply.tool_calls ?? []).flatMap((call) =>
    call.type === 'function' ? [{ id: call.id, name: call.function.name, arguments: call.function.arguments }] : [],
  );
  return { text: reply.content ?? '', calls, usage: completion.usage ?? undefined, finishReason: choice.finish_reason ?? undefined };
}

/** A piece of a streamed model call as it arrives: text, or a fragment of one tool call. */
export type StepDelta =
  | { type: 'text'; text: string }
  /** `index` is the upstream's (one per call); `id` and `name` are the call's, `arguments` this fragment's piece. */
  | { type: 'tool_call'; index: number; id: string; name: string; arguments: string };

/**
 * One model call, streamed: its deltas as they arrive, then what it answered. Tool calls
 * arrive as fragments keyed by index (the first carries id and name, the rest pieces of
 * the arguments) and are also put together here. An abort ends it with an AbortError.
 */
export async function* streamStep(model: ChatModel, request: ChatRequest, options: CallOptions): AsyncGenerator<StepDelta, ModelStep> {
  let text = '';
  let usage: TokenUsage | undefined;
  let finishReason: string | undefined;
  const calls: ToolCallRequest[] = [];
  for await (const chunk of await model.stream(request, options)) {
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices?.[0]?.finish_reason) finishReason = chunk.choices[0].finish_reason;
    const delta = chunk.choices?.[0]?.delta;
    if (delta?.content) {
      text += delta.content;
      yield { type: 'text', text: delta.content };
    }
    for (const part of delta?.tool_calls ?? []) {
      // The id is needed when the call starts: one the upstream leaves out is made then.
      const call = (calls[part.index] ??= { id: part.id || `call_${newId()}`, name: '', arguments: '' });
      if (part.function?.name && !call.name) call.name = part.function.name;
      const piece = part.function?.arguments ?? '';
      call.arguments += piece;
      yield { type: 'tool_call', index: part.index, id: call.id, name: call.name, arguments: piece };
    }
  }
  return { text, calls: calls.filter(Boolean), usage, finishReason };
}

/** The event that ends a stream that failed after it began; `cause` is what failed, for the log. */
export type StreamErrorEvent = { type: 'error'; code: string; message: string; cause: unknown };

/**
 * A service's event stream, started: resolves once its first event is ready, so that a
 * failure before anything was sent surfaces as a plain error (an HTTP status). After that
 * a failure becomes one `error` event, and an abort (client gone) a quiet end.
 */
export async function started<E>(events: AsyncGenerator<E>): Promise<AsyncGenerator<E | StreamErrorEvent>> {
  const ready = await primed(events);
  return (async function* () {
    try {
      yield* ready;
    } catch (error) {
      if (isAbort(error)) return;
      const appError = error instanceof AppError ? error : new InternalError({ cause: error });
      yield { type: 'error' as const, code: appError.code, message: appError.message, cause: error };
    }
  })();
}

/**
 * An event stream whose first event is ready: what the promise rejects with is a failure
 * before anything was sent. Ending it early (return) ends `events` too.
 */
export async function primed<E>(events: AsyncGenerator<E>): Promise<AsyncGenerator<E>> {
  const first = await events.next();
  return (async function* () {
    try {
      if (first.done) return;
      yield first.value;
      yield* events;
    } finally {
      await events.return(undefined);
    }
  })();
}
