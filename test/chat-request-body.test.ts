import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chatRequestBody } from '../src/upstream/chat-request-body.js';

test('the body is the JSON of the fields plus the messages, frozen or not', () => {
  const frozen = Object.freeze({ role: 'user' as const, content: 'caf\u00e9 "quoted" \n line' });
  const mutable = { role: 'assistant' as const, content: 'first' };
  const fields = { model: 'm', max_completion_tokens: 10, temperature: 0.5, stream: true, stream_options: { include_usage: true } };
  const messages = [frozen, mutable];
  assert.deepEqual(JSON.parse(chatRequestBody(fields, messages)), { ...fields, messages });
  assert.deepEqual(JSON.parse(chatRequestBody({}, [])), { messages: [] });
});

test('a mutable message is serialised afresh each time; a frozen one cannot change', () => {
  const mutable = { role: 'user' as const, content: 'before' };
  assert.deepEqual(JSON.parse(chatRequestBody({ model: 'm' }, [mutable])).messages, [{ role: 'user', content: 'before' }]);
  mutable.content = 'after';
  assert.deepEqual(JSON.parse(chatRequestBody({ model: 'm' }, [mutable])).messages, [{ role: 'user', content: 'after' }]);
});
