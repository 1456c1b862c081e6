import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';

/**
 * The JSON text of frozen messages, made once. A conversation's history is sent again on
 * every turn, mostly as the same frozen objects (the history cache shares them between
 * turns), so re-serialising it each time would cost the most CPU of a long conversation's
 * turn. Only frozen messages are kept: their text cannot go stale.
 */
const messageJson = new WeakMap<object, string>();

function jsonOf(message: ChatCompletionMessageParam): string {
  let text = messageJson.get(message);
  if (text === undefined) {
    text = JSON.stringify(message);
    if (Object.isFrozen(message)) messageJson.set(message, text);
  }
  return text;
}

/**
 * The request body of a chat completion as JSON text: the same value as
 * `JSON.stringify({ ...fields, messages })`, with each frozen message serialised once.
 */
export function chatRequestBody(fields: Record<string, unknown>, messages: readonly ChatCompletionMessageParam[]): string {
  const head = JSON.stringify(fields);
  let list = '';
  for (let i = 0; i < messages.length; i++) list += (i === 0 ? '' : ',') + jsonOf(messages[i]!);
  return `${head.length > 2 ? `${head.slice(0, -1)},` : '{'}"messages":[${list}]}`;
}
