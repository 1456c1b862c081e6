import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chatRequestBody, listCarryingJson, messageJsonBytes, messageList } from '../src/upstream/chat-request-body.js';

test('the body is the JSON of the fields plus the messages, frozen or not', () => {
  const frozen = Object.freeze({ role: 'user' as const, content: 'caf\u00e9 "quoted" \n line' });
  const mutable = { role: 'assistant' as const, content: 'first' };
  const fields = { model: 'm', max_completion_tokens: 10, temperature: 0.5, stream: true, stream_options: { include_usage: true } };
  const messages = [frozen, mutable];
  assert.deepEqual(parse(chatRequestBody(fields, messages)), { ...fields, messages });
  assert.deepEqual(parse(chatRequestBody({}, [])), { messages: [] });
});

test('a mutable message is serialised afresh each time; a frozen one cannot change', () => {
  const mutable = { role: 'user' as const, content: 'before' };
  assert.deepEqual(parse(chatRequestBody({ model: 'm' }, [mutable])).messages, [{ role: 'user', content: 'before' }]);
  mutable.content = 'after';
  assert.deepEqual(parse(chatRequestBody({ model: 'm' }, [mutable])).messages, [{ role: 'user', content: 'after' }]);
});

function parse(body: Buffer): any {
  return JSON.parse(body.toString('utf8'));
}

const frozen = (role: 'user' | 'assistant', content: string) => Object.freeze({ role, content });
const conversation = (n: number) => Array.from({ length: n }, (_, i) => frozen(i % 2 ? 'assistant' : 'user', `message ${i} "é" \u{1F600}`));
const sent = (messages: readonly object[]) => parse(chatRequestBody({ model: 'm' }, messages as never)).messages;

/** A history list as the history cache makes it: the messages and their JSON joined by commas. */
const carrying = (messages: ReturnType<typeof conversation>) =>
  listCarryingJson(messages, Buffer.from(messages.map((m) => messageJsonBytes(m).toString('utf8')).join(',')));

test('messageList: single messages and lists in order, with the same JSON as the messages themselves', () => {
  const system = frozen('user', 'system prompt');
  const history = carrying(conversation(5));
  const list = messageList(system, history, carrying([]), frozen('user', 'new'));
  assert.ok(Object.isFrozen(list));
  assert.deepEqual(list, [system, ...history, { role: 'user', content: 'new' }]);
  assert.deepEqual(sent(list), JSON.parse(JSON.stringify(list)));
  assert.deepEqual(sent(messageList()), []);
  assert.deepEqual(sent(messageList(system, [], frozen('user', 'new'))), [system, { role: 'user', content: 'new' }]);
});

test('a list carrying JSON sends exactly that JSON, each message as JSON.stringify writes it', () => {
  const history = conversation(7);
  const body = chatRequestBody({ model: 'm' }, messageList(frozen('user', 's'), carrying(history))).toString('utf8');
  assert.equal(body, JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 's' }, ...history] }));
  assert.equal(messageJsonBytes(history[1]!).toString('utf8'), JSON.stringify(history[1]));
});

test('a list with a mutable message keeps no text: a change to the message is sent', () => {
  const mutable = { role: 'user' as const, content: 'before' };
  const list = messageList(frozen('user', 's'), mutable);
  mutable.content = 'after';
  assert.equal(sent(list)[1].content, 'after');
});
