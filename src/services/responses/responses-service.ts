import type { Config } from '../../config/config.js';
import { AppError, InternalError, InvalidRequestError, NotFoundError, ProviderRejectedError } from '../../errors.js';
import { newId } from '../../shared/ids.js';
import type { ResponseRecord, ResponseStatus, Storage } from '../../storage/storage.js';
import type { LoggedEvent, StreamHub } from '../../streams/stream-hub.js';
import type { CallOptions, ChatCompletionMessageParam, ChatCompletionTool, ChatModel, ChatRequest } from '../../upstream/chat-model.js';
import { isAbort } from '../../upstream/error-mapping.js';
import type { TokenUsage } from '../../upstream/model-call.js';
import type { HistoryCache } from '../history-cache.js';
import { completeStep, primed, streamStep, type ModelStep, type StepDelta } from '../model-step.js';
import { TOKENS_PER_MESSAGE, TOKENS_PER_REPLY, type TokenCounter } from '../token-counter.js';
import { buildContext, type Truncation } from './context.js';
import { conversationNotFound } from './conversations.js';
import { chainSource, conversationSource } from './history-sources.js';
import { callItemId, messageItemId, newResponseId } from './item-ids.js';
import { itemPage, type ItemList } from './item-pages.js';
import { appendDrafts, findItem, inputDrafts } from './item-store.js';
import { itemsOfRow, rowTokens, textPart, type FunctionCallItem, type Item, type MessageItem, type RowDraft } from './items.js';
import type { CreateResponseBody, ListQuery, ToolChoice } from './request-schema.js';
import { echoTool, responseObject, responseUsage, type ResponseObject, type ResponseSettings } from './response-object.js';
import { ResponseEvents, textOfEvents, type ResponseEvent } from './stream-events.js';

/** A response made ready for its model call; with `store`, it and its input items are stored already. */
export interface PreparedResponse {
  record: ResponseRecord;
  request: ChatRequest;
  promptTokens: number;
  store: boolean;
  /** The id of the row its output will be (the output items' ids derive from it). */
  outputRowId: string;
  /** Its stored input rows. */
  inputRowIds: string[];
}

const RUNNING: readonly ResponseStatus[] = ['queued', 'in_progress'];
/** How long a cancel waits for the producer to store what had arrived and end its log. */
const CANCEL_WAIT_MS = 5000;

export const responseNotFound = (id: string) => new NotFoundError(`Response with id '${id}'`);

const chatToolChoice = (choice: ToolChoice) => (typeof choice === 'string' ? choice : { type: 'function' as const, function: { name: choice.name } });

/**
 * The Responses API over any Chat Completions model: a request becomes one chat completion
 * call (instructions as the system message, then the stored history that fits
 * MODEL_CONTEXT_TOKENS, then the new items), and its answer the response's output items.
 * Function calls go back to the client, as with OpenAI. With `store` (the default) the
 * response, its input items and its output are kept: as message rows, of its conversation
 * when it has one.
 */
export function responsesService(deps: {
  storage: Storage;
  model: ChatModel;
  tokens: TokenCounter;
  config: Pick<Config, 'modelContextTokens'>;
  /** Where background responses log their events (resumable streams). */
  hub: StreamHub;
  /** /chat's history of a conversation: dropped when its rows are taken back. */
  history: Pick<HistoryCache, 'drop'>;
}) {
  const { storage, model, tokens, config, hub, history } = deps;

  async function prepare(userId: string, body: CreateResponseBody): Promise<PreparedResponse> {
    model.assertConfigured();
    const store = body.store ?? true;
    const conversationId = typeof body.conversation === 'string' ? body.conversation : (body.conversation?.id ?? null);
    const previousId = body.previous_response_id ?? null;
    if (conversationId && previousId) {
      throw new InvalidRequestError("Mutually exclusive parameters: provide only one of 'previous_response_id' or 'conversation'.", 'conversation', 'mutually_exclusive_parameters');
    }
    if (body.background && !store) throw new InvalidRequestError('Background responses need store: true.', 'background');
    if (conversationId && !(await storage.conversations.get(userId, conversationId))) throw conversationNotFound(conversationId);
    if (previousId) {
      const previous = await storage.responses.get(userId, previousId);
      if (!previous) throw new InvalidRequestError(`Previous response with id '${previousId}' not found.`, 'previous_response_id', 'previous_response_not_found');
      if (RUNNING.includes(previous.status)) throw new InvalidRequestError(`Previous response with id '${previousId}' is still ${previous.status}.`, 'previous_response_id');
    }

    const drafts = await inputDrafts(storage, tokens, userId, body.input ?? [], 'input');
    const tools: ChatCompletionTool[] = (body.tools ?? []).map((t) => ({
      type: 'function',
      function: {
        name: t.name,
        ...(t.description != null && { description: t.description }),
        ...(t.parameters != null && { parameters: t.parameters }),
        ...(t.strict != null && { strict: t.strict }),
      },
    }));
    const fixed: ChatCompletionMessageParam[] = body.instructions ? [{ role: 'system', content: body.instructions }] : [];
    const fixedTokens =
      TOKENS_PER_REPLY + (body.instructions ? tokens.count(body.instructions) + TOKENS_PER_MESSAGE : 0) + (tools.length ? tokens.count(JSON.stringify(tools)) : 0);
    const truncation: Truncation = body.truncation ?? 'disabled';
    const context = await buildContext({
      fixed,
      fixedTokens,
      input: drafts.map((d, i) => ({ ...d, seq: Number.MAX_SAFE_INTEGER - drafts.length + i })),
      history: conversationId ? conversationSource(storage, conversationId) : previousId ? chainSource(storage, userId, previousId) : undefined,
      budget: config.modelContextTokens,
      truncation,
    });

    const settings: ResponseSettings = {
      model: body.model,
      instructions: body.instructions ?? null,
      tools: (body.tools ?? []).map(echoTool),
      tool_choice: body.tool_choice ?? 'auto',
      parallel_tool_calls: body.parallel_tool_calls ?? true,
      temperature: body.temperature ?? 1,
      top_p: body.top_p ?? 1,
      max_output_tokens: body.max_output_tokens ?? null,
      metadata: body.metadata ?? {},
      truncation,
      store,
    };
    const now = new Date().toISOString();
    const record: ResponseRecord = {
      id: newResponseId(),
      userId,
      conversationId,
      previousResponseId: previousId,
      status: body.background ? 'queued' : 'in_progress',
      background: body.background ?? false,
      settings: settings as unknown as Record<string, unknown>,
      output: [],
      usage: null,
      error: null,
      incompleteDetails: null,
      streamId: null,
      createdAt: now,
      updatedAt: now,
      completedAt: null,
    };
    const inputRowIds: string[] = [];
    if (store) {
      await storage.transaction(async (tx) => {
        await tx.responses.create(record);
        const rows = await appendDrafts(tx, { conversationId, responseId: record.id, part: 'input', createdAt: now }, drafts);
        if (!rows) throw conversationNotFound(conversationId!);
        inputRowIds.push(...rows.map((r) => r.id));
      });
    }
    return {
      record,
      store,
      outputRowId: newId(),
      inputRowIds,
      promptTokens: context.promptTokens,
      request: {
        messages: context.messages,
        ...(tools.length && { tools }),
        promptTokens: context.promptTokens,
        settings: {
          model: body.model,
          temperature: body.temperature ?? undefined,
          topP: body.top_p ?? undefined,
          maxTokens: body.max_output_tokens ?? undefined,
          ...(tools.length && { toolChoice: chatToolChoice(settings.tool_choice), parallelToolCalls: body.parallel_tool_calls ?? undefined }),
        },
      },
    };
  }

  /** The output row of a model step (or what arrived of one) and its items. */
  function outputOf(turn: PreparedResponse, text: string, calls: ModelStep['calls'], status: 'complete' | 'incomplete'): { draft: RowDraft; items: Item[] } {
    const toolCalls = calls.length ? calls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })) : null;
    const draft: RowDraft = { role: 'assistant', content: text || null, toolCalls, toolCallId: null, status, details: null, tokens: 0 };
    draft.tokens = rowTokens(tokens, draft);
    return { draft, items: itemsOfRow({ ...draft, id: turn.outputRowId, content: text }) };
  }

  /**
   * Writes how the response ended (output row and outcome, in one transaction) and returns
   * it. A response cancelled meanwhile stays cancelled: its outcome is not overwritten.
   */
  async function settle(
    turn: PreparedResponse,
    outcome: { status: ResponseStatus; text: string; calls: ModelStep['calls']; usage?: TokenUsage | undefined; error?: ResponseRecord['error']; reason?: string },
    whileStatus: readonly ResponseStatus[] = RUNNING,
  ): Promise<ResponseRecord> {
    const keep = outcome.status === 'completed' || outcome.text !== '' || outcome.calls.length > 0;
    const { draft, items } = keep ? outputOf(turn, outcome.text, outcome.calls, outcome.status === 'completed' ? 'complete' : 'incomplete') : { draft: undefined, items: [] };
    const outputTokens = draft ? draft.tokens - TOKENS_PER_MESSAGE : 0;
    const usage = outcome.usage ?? { prompt_tokens: turn.promptTokens, completion_tokens: outputTokens, total_tokens: turn.promptTokens + outputTokens };
    const now = new Date().toISOString();
    const record: ResponseRecord = {
      ...turn.record,
      status: outcome.status,
      output: items,
      usage: outcome.status === 'failed' ? null : responseUsage(usage),
      error: outcome.error ?? null,
      incompleteDetails: outcome.reason ? { reason: outcome.reason } : null,
      updatedAt: now,
      completedAt: outcome.status === 'completed' ? now : null,
    };
    turn.record = record;
    if (!turn.store) return record;
    await storage.transaction(async (tx) => {
      const written = await tx.responses.settle(record.id, record, whileStatus);
      if (!written) return; // cancelled meanwhile
      if (draft) {
        const stored = await appendDrafts(tx, { conversationId: record.conversationId, responseId: record.id, part: 'output', createdAt: now }, [{ ...draft, id: turn.outputRowId }]);
        // The conversation was deleted meanwhile: the response is kept without it.
        if (!stored) await appendDrafts(tx, { conversationId: null, responseId: record.id, part: 'output', createdAt: now }, [{ ...draft, id: turn.outputRowId }]);
      }
    });
    return record;
  }

  const stepOutcome = (step: ModelStep) => ({
    status: step.finishReason === 'length' ? ('incomplete' as const) : ('completed' as const),
    ...(step.finishReason === 'length' && { reason: 'max_output_tokens' }),
    text: step.text,
    calls: step.calls,
    usage: step.usage,
  });

  const failure = (error: unknown) => {
    const appError = error instanceof AppError ? error : new InternalError({ cause: error });
    const code = appError instanceof ProviderRejectedError ? 'invalid_prompt' : appError.status === 429 ? 'rate_limit_exceeded' : 'server_error';
    return { code, message: appError.message };
  };

  /**
   * Settles a response whose model call did not finish; `text` is what arrived, undefined
   * when nothing was sent yet. An abort keeps it: cancelled for a background response
   * (cancel, or shutdown), else incomplete. A refusal before anything was sent (the
   * provider's 4xx, relayed to the client as its error) takes back
   * the response and its input, as OpenAI stores nothing for a request it rejects; but a
   * background request was answered `queued` already, so it stays, failed. Our own failures
   * (429, 5xx, timeouts) keep the response, failed, as OpenAI keeps one.
   */
  async function stop(turn: PreparedResponse, error: unknown, text?: string): Promise<ResponseRecord> {
    const kept = { text: text ?? '', calls: [] };
    if (isAbort(error)) {
      if (turn.record.background) return settle(turn, { status: 'cancelled', ...kept }, [...RUNNING, 'cancelled']);
      return settle(turn, { status: 'incomplete', ...kept });
    }
    if (error instanceof ProviderRejectedError && text === undefined && !turn.record.background) {
      if (turn.store) await discard(turn);
      return turn.record;
    }
    return settle(turn, { status: 'failed', ...kept, error: failure(error) });
  }

  /** Deletes a stored response with its input rows, its conversation's too. */
  async function discard(turn: PreparedResponse): Promise<void> {
    await storage.transaction(async (tx) => {
      for (const id of turn.inputRowIds) await tx.items.delete(id);
      await tx.responses.delete(turn.record.userId, turn.record.id);
    });
    if (turn.record.conversationId) history.drop(turn.record.conversationId);
  }

  /**
   * A response's streamed events, numbered from 0: created and in_progress once the first
   * delta (or the whole answer) is in, so a failure before it is a plain error (an HTTP
   * status); then each output item added as it starts, its deltas as they arrive, and done
   * when the next starts or the answer ends; last completed, incomplete or failed. An abort
   * (client gone) ends them quietly with what arrived stored as incomplete; a background
   * response (whose request was answered already) ends with its outcome: failed, or
   * `response.cancelled` when cancelled.
   */
  async function* events(turn: PreparedResponse, options: CallOptions): AsyncGenerator<ResponseEvent> {
    const ev = new ResponseEvents();
    const ended = (error: unknown, record: ResponseRecord) =>
      ev.event(isAbort(error) ? 'response.cancelled' : 'response.failed', { response: responseObject(record) });
    const step = streamStep(model, turn.request, options);
    let next: IteratorResult<StepDelta, ModelStep>;
    try {
      next = await step.next();
    } catch (error) {
      const record = await stop(turn, error);
      if (!turn.record.background) throw error;
      yield ended(error, record);
      return;
    }
    const snapshot = (status: ResponseStatus) => responseObject({ ...turn.record, status });
    yield ev.event('response.created', { response: snapshot(turn.record.status) });
    yield ev.event('response.in_progress', { response: snapshot('in_progress') });
    // The output items in the order they started (Chat Completions upstreams send text before
    // calls, the order of the stored output); the last one is open.
    const items: Array<MessageItem | FunctionCallItem> = [];
    const calls = new Map<number, FunctionCallItem>(); // by the upstream's index
    let message: MessageItem | undefined;
    let text = '';
    function* start(item: MessageItem | FunctionCallItem) {
      const open = items.at(-1);
      if (open) yield* ev.done(open.type === 'message' ? { ...open, status: 'completed', content: [textPart('assistant', text)] } : { ...open, status: 'completed' }, items.length - 1);
      items.push(item);
      yield* ev.started(item, items.length - 1);
    }
    try {
      for (; !next.done; next = await step.next()) {
        const delta = next.value;
        if (delta.type === 'text') {
          if (!message) yield* start((message = { type: 'message', id: messageItemId(turn.outputRowId), status: 'in_progress', role: 'assistant', content: [] }));
          text += delta.text;
          yield ev.textDelta(message.id, items.indexOf(message), delta.text);
          continue;
        }
        let call = calls.get(delta.index);
        if (!call) {
          call = { type: 'function_call', id: callItemId(turn.outputRowId, delta.id), call_id: delta.id, name: delta.name, arguments: '', status: 'in_progress' };
          calls.set(delta.index, call);
          yield* start(call);
        }
        if (delta.arguments) {
          call.arguments += delta.arguments;
          yield ev.argumentsDelta(call.id, items.indexOf(call), delta.arguments);
        }
      }
      const record = await settle(turn, stepOutcome(next.value));
      yield* ev.rest(record.output as Item[], items.length);
      yield ev.event(record.status === 'completed' ? 'response.completed' : 'response.incomplete', { response: responseObject(record) });
    } catch (error) {
      // Cut off, cancelled or failed: what arrived of the text is kept (unfinished calls are not).
      const record = await stop(turn, error, text);
      if (!isAbort(error) || turn.record.background) yield ended(error, record);
    }
  }

  /**
   * Runs a background response detached, its events logged in the stream hub (hub seq =
   * sequence_number + 1), whoever reads them: the request only gets the queued response.
   * Stopped by cancel (from any instance) through the producer's signal.
   */
  async function startBackground(turn: PreparedResponse, options: CallOptions): Promise<ResponseObject> {
    const producer = await hub.open({ userId: turn.record.userId, kind: 'response', policy: 'background', context: { responseId: turn.record.id } });
    turn.record = { ...turn.record, streamId: producer.id };
    await storage.responses.setStreamId(turn.record.id, producer.id);
    const queued = responseObject(turn.record);
    void (async () => {
      let last = -1;
      try {
        await storage.responses.settle(turn.record.id, { status: 'in_progress', updatedAt: new Date().toISOString() }, ['queued']);
        for await (const event of events(turn, { ...options, signal: producer.signal })) {
          await producer.append(JSON.stringify(event), event.type);
          last = event.sequence_number;
        }
      } catch {
        // Storing its outcome, or logging an event, failed: readers are still told it did not finish.
        const failed = responseObject({ ...turn.record, status: 'failed' });
        await producer.append(JSON.stringify({ type: 'response.failed', sequence_number: last + 1, response: failed }), 'response.failed');
      } finally {
        await producer.end();
      }
    })().catch(() => {});
    return queued;
  }

  /** Resolves once a stream's log has ended, or after CANCEL_WAIT_MS. */
  async function waitForEnd(userId: string, streamId: string): Promise<void> {
    for await (const _ of hub.read(userId, streamId, { after: 0, signal: AbortSignal.timeout(CANCEL_WAIT_MS) })) void _;
  }

  /** The text a lost background response had streamed, kept as its output (LostStreamHandler.settle). */
  async function settleLost(userId: string, responseId: string, logged: readonly LoggedEvent[]): Promise<void> {
    const record = await storage.responses.get(userId, responseId);
    if (!record || !RUNNING.includes(record.status)) return;
    const turn: PreparedResponse = { record, store: true, outputRowId: newId(), inputRowIds: [], promptTokens: 0, request: { messages: [] } };
    await settle(turn, { status: 'incomplete', text: textOfEvents(logged), calls: [] });
  }

  return {
    settleLost,

    /** A background response: answered queued at once, its events resumable (see `resume`). */
    async background(userId: string, body: CreateResponseBody, options: CallOptions = {}): Promise<ResponseObject> {
      return startBackground(await prepare(userId, body), options);
    },

    /** The logged events of a background response after sequence number `startingAfter`, then live to its end. */
    async resume(userId: string, id: string, startingAfter: number, signal: AbortSignal): Promise<AsyncIterable<LoggedEvent>> {
      const record = await storage.responses.get(userId, id);
      if (!record) throw responseNotFound(id);
      if (!record.streamId) throw new InvalidRequestError('Only background responses can be streamed again; create it with background: true.', 'stream');
      await hub.check(userId, record.streamId);
      return hub.read(userId, record.streamId, { after: startingAfter + 1, signal });
    },

    /** Stops a background response (idempotent: a finished one is answered as it is). */
    async cancel(userId: string, id: string): Promise<ResponseObject> {
      const record = await storage.responses.get(userId, id);
      if (!record) throw responseNotFound(id);
      if (!record.background) throw new InvalidRequestError('Only background responses can be cancelled.', null);
      if (RUNNING.includes(record.status)) {
        await storage.responses.settle(id, { status: 'cancelled', updatedAt: new Date().toISOString() }, RUNNING);
        if (record.streamId && (await hub.cancel(userId, record.streamId).catch(() => false))) {
          // The producer keeps what had arrived as it stops, then ends the log: wait for that (bounded),
          // so the answer and any retrieve after it hold that text.
          await waitForEnd(userId, record.streamId).catch(() => {});
        }
      }
      return responseObject((await storage.responses.get(userId, id)) ?? record);
    },

    /** A response answered whole. */
    async create(userId: string, body: CreateResponseBody, options: CallOptions = {}): Promise<ResponseObject> {
      const turn = await prepare(userId, body);
      let step: ModelStep;
      try {
        step = await completeStep(model, turn.request, options);
      } catch (error) {
        await stop(turn, error);
        throw error;
      }
      return responseObject(await settle(turn, stepOutcome(step)));
    },

    /** A streamed response: resolves once its first events are ready (see `events`). */
    async stream(userId: string, body: CreateResponseBody, options: CallOptions = {}): Promise<AsyncGenerator<ResponseEvent>> {
      return primed(events(await prepare(userId, body), options));
    },

    async get(userId: string, id: string): Promise<ResponseObject> {
      const record = await storage.responses.get(userId, id);
      if (!record) throw responseNotFound(id);
      return responseObject(record);
    },

    async delete(userId: string, id: string): Promise<{ id: string; object: 'response.deleted'; deleted: true }> {
      if (!(await storage.responses.delete(userId, id))) throw responseNotFound(id);
      return { id, object: 'response.deleted', deleted: true };
    },

    async inputItems(userId: string, id: string, query: ListQuery): Promise<ItemList> {
      if (!(await storage.responses.get(userId, id))) throw responseNotFound(id);
      let after;
      if (query.after) {
        const found = await findItem(storage, userId, query.after);
        if (!found || found.row.responseId !== id || found.row.part !== 'input') throw new NotFoundError(`Item with id '${query.after}'`);
        after = found.row;
      }
      return itemPage((options) => storage.items.listResponse(id, 'input', options), query, after);
    },
  };
}

export type ResponsesService = ReturnType<typeof responsesService>;
