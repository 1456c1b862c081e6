import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chatRequestBody, historyList, messageList } from '../src/upstream/chat-request-body.js';

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

test('messageList: single messages and lists in order, with the same JSON as the messages themselves', () => {
  const system = frozen('user', 'system prompt');
  const history = historyList(conversation(5), undefined);
  const list = messageList(system, history, [], frozen('user', 'new'));
  assert.ok(Object.isFrozen(list));
  assert.deepEqual(list, [system, ...history, { role: 'user', content: 'new' }]);
  assert.deepEqual(sent(list), JSON.parse(JSON.stringify(list)));
  assert.deepEqual(sent(messageList()), []);
});

test('historyList: each turn reuses the last text, for every way two turns can overlap', () => {
  const all = conversation(40);
  // [from, to) windows one after another: growing at the end, dropping at the start, both,
  // shrinking at the end (a smaller budget), disjoint, identical, and back to a wider one.
  const windows: Array<[number, number]> = [[0, 10], [0, 12], [2, 14], [5, 14], [5, 9], [6, 8], [20, 30], [20, 30], [19, 31], [0, 40], [39, 40], [0, 1]];
  let previous: ReturnType<typeof historyList> | undefined;
  for (const [from, to] of windows) {
    const list = historyList(all.slice(from, to), previous);
    assert.deepEqual(list, all.slice(from, to), `window ${from}-${to}`);
    assert.deepEqual(sent(messageList(frozen('user', 's'), list)), JSON.parse(JSON.stringify([{ role: 'user', content: 's' }, ...all.slice(from, to)])), `window ${from}-${to}`);
    previous = list;
  }
  assert.deepEqual(sent(historyList([], previous)), []);
});

test('historyList: a list whose messages are not the previous ones in order is built afresh', () => {
  const all = conversation(10);
  const previous = historyList(all.slice(0, 6), undefined);
  const shuffled = [all[2]!, all[4]!, all[3]!, all[5]!];
  assert.deepEqual(sent(historyList(shuffled, previous)), JSON.parse(JSON.stringify(shuffled)));
});

test('a list with a mutable message keeps no text: a change to the message is sent', () => {
  const mutable = { role: 'user' as const, content: 'before' };
  const list = messageList(frozen('user', 's'), mutable);
  mutable.content = 'after';
  assert.equal(sent(list)[1].content, 'after');
  const history = historyList([frozen('user', 'a'), mutable], undefined);
  mutable.content = 'later';
  assert.deepEqual(sent(historyList([history[1]!], history)), [{ role: 'user', content: 'later' }]);
});
