import { ContextLengthExceededError } from '../../errors.js';
import type { HistoryEntry } from '../../storage/storage.js';
import type { ChatCompletionMessageParam } from '../../upstream/chat-model.js';
import { HistoryWalk, toModelMessage, type HistorySource } from '../history.js';

export type Truncation = 'auto' | 'disabled';

export interface ContextRequest {
  /** Sent first and always (instructions as the system message), with `fixedTokens` for them, the tools and the reply's priming. */
  fixed: ChatCompletionMessageParam[];
  fixedTokens: number;
  /** This request's own items, oldest first. */
  input: readonly HistoryEntry[];
  /** The stored items before them (a conversation, or a previous_response_id chain), newest first; none when absent. */
  history?: HistorySource<HistoryEntry> | undefined;
  /** MODEL_CONTEXT_TOKENS. */
  budget: number;
  truncation: Truncation;
}

export interface Context {
  messages: ChatCompletionMessageParam[];
  promptTokens: number;
}

/**
 * The messages one model call gets: the fixed ones, then the newest items that fit the
 * budget, read newest first (so a long conversation costs what the budget holds, not its
 * length). The walk is /chat's (HistoryWalk): a function call and its output are one unit,
 * kept or dropped together. Over budget, truncation "disabled" refuses the request (400
 * context_length_exceeded) and "auto" drops the oldest units; if not even the newest unit
 * fits, both refuse.
 */
export async function buildContext(request: ContextRequest): Promise<Context> {
  const room = request.budget - request.fixedTokens;
  const overBudget = () =>
    new ContextLengthExceededError(
      `The input exceeds the context budget of ${request.budget} tokens (MODEL_CONTEXT_TOKENS); shorten it or use truncation "auto"`,
    );
  if (room <= 0) throw overBudget();
  const walk = new HistoryWalk<HistoryEntry>(room);
  let fits = true;
  for (let i = request.input.length - 1; i >= 0 && fits; i--) fits = walk.add(request.input[i]!);
  while (fits && request.history) {
    const batch = await request.history(walk.wantMore());
    if (!batch.length) break;
    walk.reserve(batch.length);
    for (const entry of batch) if (!(fits = walk.add(entry))) break;
  }
  if (!fits && request.truncation === 'disabled') throw overBudget();
  const selected = walk.selectedWithin(room);
  // The walk stops at the first unit that does not fit: nothing kept means not even the newest did.
  if (!fits && !selected.messages.length) throw overBudget();
  return {
    messages: [...request.fixed, ...selected.messages.map(toModelMessage)],
    promptTokens: request.fixedTokens + selected.tokens,
  };
}
