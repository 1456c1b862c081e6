import type { FunctionCallItem, Item, MessageItem } from './items.js';
import { textPart } from './items.js';

/** One typed event of a streamed response: `type` is also its SSE `event:` name. */
export interface ResponseEvent {
  type: string;
  sequence_number: number;
  [field: string]: unknown;
}

/**
 * OpenAI's streaming events for one response, numbered from 0 in the order they are made
 * (the SDKs' `responses.stream()` rebuilds the response from them, so each item is added
 * before its parts and deltas, and done after them).
 */
export class ResponseEvents {
  private sequence = 0;

  event(type: string, fields: Record<string, unknown>): ResponseEvent {
    return { type, sequence_number: this.sequence++, ...fields };
  }

  /** An item starts: a message with its one output_text part, a function call with its arguments still empty. */
  started(item: MessageItem | FunctionCallItem, outputIndex: number): ResponseEvent[] {
    if (item.type === 'function_call') {
      return [this.event('response.output_item.added', { output_index: outputIndex, item: { ...item, arguments: '', status: 'in_progress' } })];
    }
    return [
      this.event('response.output_item.added', { output_index: outputIndex, item: { ...item, status: 'in_progress', content: [] } }),
      this.event('response.content_part.added', { item_id: item.id, output_index: outputIndex, content_index: 0, part: textPart('assistant', '') }),
    ];
  }

  textDelta(itemId: string, outputIndex: number, delta: string): ResponseEvent {
    return this.event('response.output_text.delta', { item_id: itemId, output_index: outputIndex, content_index: 0, delta, logprobs: [] });
  }

  argumentsDelta(itemId: string, outputIndex: number, delta: string): ResponseEvent {
    return this.event('response.function_call_arguments.delta', { item_id: itemId, output_index: outputIndex, delta });
  }

  /** An item is done: its text or arguments whole, then the item. */
  done(item: Item, outputIndex: number): ResponseEvent[] {
    if (item.type === 'function_call_output') return [];
    const text = item.type === 'message' ? (item.content[0]?.text ?? '') : '';
    const whole =
      item.type === 'function_call'
        ? [this.event('response.function_call_arguments.done', { item_id: item.id, output_index: outputIndex, name: item.name, arguments: item.arguments })]
        : [
            this.event('response.output_text.done', { item_id: item.id, output_index: outputIndex, content_index: 0, text, logprobs: [] }),
            this.event('response.content_part.done', { item_id: item.id, output_index: outputIndex, content_index: 0, part: textPart('assistant', text) }),
          ];
    return [...whole, this.event('response.output_item.done', { output_index: outputIndex, item })];
  }

  /**
   * The end of a response's output: the item still open (the `started`-th, if any) is done,
   * and any not streamed (a message with no text) is added and done.
   */
  rest(output: readonly Item[], started: number): ResponseEvent[] {
    return output.flatMap((item, index) => {
      if (index < started - 1 || item.type === 'function_call_output') return [];
      return [...(index < started ? [] : this.started(item, index)), ...this.done(item, index)];
    });
  }
}

/** The text a stream's logged events carried: what a lost or cut-off response is settled with. */
export function textOfEvents(events: ReadonlyArray<{ data: string }>): string {
  let text = '';
  for (const { data } of events) {
    if (!data.includes('"response.output_text.delta"')) continue;
    try {
      const event = JSON.parse(data) as { type?: string; delta?: unknown };
      if (event.type === 'response.output_text.delta' && typeof event.delta === 'string') text += event.delta;
    } catch {
      // not an event of ours
    }
  }
  return text;
}
