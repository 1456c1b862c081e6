import type { ItemRow, MessageStatus, ToolCall } from '../../storage/storage.js';
import { TOKENS_PER_MESSAGE, type TokenCounter } from '../token-counter.js';
import { callItemId, messageItemId, outputItemId } from './item-ids.js';
import type { InputItem } from './request-schema.js';

/**
 * Items (the Responses API's unit) and message rows (the store's) are two views of the
 * same thing: a text message is one row; a function_call is a tool call on an assistant
 * row (consecutive calls share one row, as chat sends them); a function_call_output is a
 * tool row. So /chat reads what /v1/responses wrote, and the other way round.
 */

export interface TextPart {
  type: 'input_text' | 'output_text';
  text: string;
  annotations?: unknown[];
  logprobs?: unknown[];
}

export interface MessageItem {
  type: 'message';
  id: string;
  status: 'in_progress' | 'completed' | 'incomplete';
  role: 'user' | 'assistant' | 'system' | 'developer';
  content: TextPart[];
}

export interface FunctionCallItem {
  type: 'function_call';
  id: string;
  call_id: string;
  name: string;
  arguments: string;
  status: 'in_progress' | 'completed' | 'incomplete';
}

export interface FunctionCallOutputItem {
  type: 'function_call_output';
  id: string;
  call_id: string;
  output: string;
  status: 'completed' | 'incomplete';
}

export type Item = MessageItem | FunctionCallItem | FunctionCallOutputItem;

/** What a row holds, before it has an id and a place. */
export type RowDraft = Pick<ItemRow, 'role' | 'content' | 'tokens' | 'status' | 'toolCalls' | 'toolCallId' | 'details'>;

const textOf = (content: string | Array<{ text: string }>): string => (typeof content === 'string' ? content : content.map((p) => p.text).join('\n'));

const itemStatus = (status: MessageStatus) => (status === 'complete' ? ('completed' as const) : ('incomplete' as const));

/** A text part as OpenAI answers it: assistant text is output_text with its annotations. */
export const textPart = (role: string, text: string): TextPart =>
  role === 'assistant' ? { type: 'output_text', text, annotations: [], logprobs: [] } : { type: 'input_text', text };

/** A row's items, in order: its text (when it has any, or nothing else), then each tool call. */
export function itemsOfRow(row: Pick<ItemRow, 'id' | 'role' | 'content' | 'status' | 'toolCalls' | 'toolCallId' | 'details'>): Item[] {
  if (row.role === 'tool') {
    return [{ type: 'function_call_output', id: outputItemId(row.id), call_id: row.toolCallId ?? '', output: row.content ?? '', status: itemStatus(row.status) }];
  }
  const items: Item[] = [];
  const calls = row.toolCalls ?? [];
  if (row.content || !calls.length) {
    const role = row.details?.role ?? row.role;
    items.push({ type: 'message', id: messageItemId(row.id), status: itemStatus(row.status), role, content: [textPart(role, row.content ?? '')] });
  }
  calls.forEach((call) =>
    items.push({
      type: 'function_call',
      id: callItemId(row.id, call.id),
      call_id: call.id,
      name: call.function.name,
      arguments: call.function.arguments,
      status: itemStatus(row.status),
    }),
  );
  return items;
}

/** Tokens of a row as it is sent: its text, or its calls, plus the message overhead. */
export function rowTokens(tokens: TokenCounter, draft: Pick<RowDraft, 'content' | 'toolCalls'>): number {
  let n = TOKENS_PER_MESSAGE + (draft.content ? tokens.count(draft.content) : 0);
  for (const call of draft.toolCalls ?? []) n += tokens.count(call.function.name) + tokens.count(call.function.arguments) + TOKENS_PER_MESSAGE;
  return n;
}

/** Input items (references already resolved) as rows to store and send; consecutive function calls share a row. */
export function draftsOf(items: ReadonlyArray<Exclude<InputItem, { type: 'item_reference' }>>, tokens: TokenCounter): RowDraft[] {
  const drafts: Array<Omit<RowDraft, 'tokens'>> = [];
  let openCalls: ToolCall[] | undefined;
  for (const item of items) {
    if (item.type === 'function_call') {
      const call: ToolCall = { id: item.call_id, type: 'function', function: { name: item.name, arguments: item.arguments } };
      if (openCalls) openCalls.push(call);
      else {
        openCalls = [call];
        drafts.push({ role: 'assistant', content: null, status: 'complete', toolCalls: openCalls, toolCallId: null, details: null });
      }
      continue;
    }
    openCalls = undefined;
    if (item.type === 'function_call_output') {
      drafts.push({ role: 'tool', content: textOf(item.output), status: 'complete', toolCalls: null, toolCallId: item.call_id, details: null });
    } else {
      const role = item.role === 'developer' ? 'system' : item.role;
      const developer = role !== item.role;
      drafts.push({
        role,
        content: textOf(item.content),
        status: 'complete',
        toolCalls: null,
        toolCallId: null,
        details: developer ? { role: 'developer' } : null,
      });
    }
  }
  return drafts.map((d) => ({ ...d, tokens: rowTokens(tokens, d) }));
}

/** A stored item as the client could have sent it inline: what an item_reference stands for. */
export function asInputItem(item: Item): Exclude<InputItem, { type: 'item_reference' }> {
  switch (item.type) {
    case 'message':
      return { type: 'message', role: item.role, content: item.content.map((p) => p.text).join('\n') };
    case 'function_call':
      return { type: 'function_call', call_id: item.call_id, name: item.name, arguments: item.arguments };
    case 'function_call_output':
      return { type: 'function_call_output', call_id: item.call_id, output: item.output };
  }
}
