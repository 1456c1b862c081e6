import assert from 'node:assert/strict';
import { test } from 'node:test';
import { trailingUsage } from '../src/services/gateway-service.js';

const usageOf = (body: unknown) => trailingUsage(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));

test("a whole answer's usage is found from its end", () => {
  assert.deepEqual(usageOf({ id: 'x', choices: [{ message: { content: 'hi' } }], usage: { prompt_tokens: 6, completion_tokens: 3, total_tokens: 9 } }), {
    prompt_tokens: 6,
    completion_tokens: 3,
    total_tokens: 9,
  });
});

test('usage with nested details, and embeddings usage without completion tokens', () => {
  const chat = { usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, prompt_tokens_details: { cached_tokens: 2, audio: { n: 1 } } } };
  assert.deepEqual(usageOf(chat), { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 });
  assert.deepEqual(usageOf({ data: [{ embedding: 'AAAA' }], usage: { prompt_tokens: 8, total_tokens: 8 } }), { prompt_tokens: 8, completion_tokens: 0, total_tokens: 8 });
});

test('"usage" inside a string is not usage; an answer without usage has none', () => {
  const text = { choices: [{ message: { content: 'the "usage":{"prompt_tokens":999} trick' } }] };
  assert.equal(usageOf(text), undefined);
  assert.deepEqual(usageOf({ choices: [{ message: { content: 'say "usage":{}' } }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }), {
    prompt_tokens: 1,
    completion_tokens: 1,
    total_tokens: 2,
  });
  assert.equal(usageOf('{"usage": null}'), undefined);
  assert.equal(usageOf('{"usage": null, "system": {"prompt_tokens": 5}}'), undefined);
  assert.deepEqual(usageOf('{"usage" :1, "x":0, "usage":\n {"prompt_tokens": 2, "completion_tokens": 1}}'), { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 });
  assert.equal(usageOf('not json at all'), undefined);
});
