import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventData } from '../src/upstream/event-stream.js';

async function dataOf(chunks: Array<string | Uint8Array>): Promise<string[]> {
  const out: string[] = [];
  for await (const data of eventData((async function* () { yield* chunks; })())) out.push(data);
  return out;
}

test('events split anywhere across chunks come out whole, in order', async () => {
  const text = 'data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n';
  for (let cut = 1; cut < text.length; cut++) {
    assert.deepEqual(await dataOf([text.slice(0, cut), text.slice(cut)]), ['{"a":1}', '{"b":2}', '[DONE]'], `cut at ${cut}`);
  }
});

test('a multi-byte character split across chunks is kept whole', async () => {
  const bytes = Buffer.from('data: {"content":"héllo 👋 世界"}\n\n', 'utf8');
  const emoji = bytes.indexOf(Buffer.from('👋'));
  const parts = [bytes.subarray(0, emoji + 1), bytes.subarray(emoji + 1, emoji + 3), bytes.subarray(emoji + 3)];
  assert.deepEqual(await dataOf(parts), ['{"content":"héllo 👋 世界"}']);
});

test('\\r\\n line ends, comments, event names and multi-line data are framed as SSE says', async () => {
  const text = ': keep-alive\r\n\r\nevent: message\r\ndata: one\r\ndata: two\r\n\r\nid: 7\r\ndata: three\r\n\r\n';
  assert.deepEqual(await dataOf([Buffer.from(text)]), ['one\ntwo', 'three']);
});

test('an event the stream ended without its blank line still counts', async () => {
  assert.deepEqual(await dataOf(['data: {"a":1}\n\ndata: last']), ['{"a":1}', 'last']);
  assert.deepEqual(await dataOf(['data: last\n']), ['last']);
});
