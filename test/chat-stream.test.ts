import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { chatRequests, createChatFixture, parseSse, type ChatFixture } from './helpers/fake-upstream.js';

describe('POST /chat/stream', () => {
  let f: ChatFixture;
  let base: string;
  let key: string;
  before(async () => {
    f = await createChatFixture({ env: { OPENAI_MAX_RETRIES: '1' } });
    base = await f.t.listen();
    key = (await f.t.createUser()).apiKey;
  });
  beforeEach(() => f.fake.reset());
  after(() => f.close());

  const post = (body: unknown, signal?: AbortSignal) =>
    fetch(`${base}/chat/stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      ...(signal && { signal }),
    });
  const messagesOf = async (id: string) =>
    (await f.t.request({ method: 'GET', url: `/conversations/${id}/messages`, key })).json().data as Array<{ role: string; content: string; status: string; tokens: number }>;
  async function until<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
    for (let i = 0; i < 200; i++) {
      const value = await probe();
      if (value !== undefined) return value;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  test('streams conversation_id first, content deltas, usage and [DONE], with SSE headers', async () => {
    const res = await post({ message: 'stream this please' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    assert.equal(res.headers.get('x-accel-buffering'), 'no');
    assert.ok(res.headers.get('x-request-id'));
    const text = await res.text();
    const events = parseSse(text) as any[];
    assert.deepEqual(Object.keys(events[0]), ['conversation_id', 'stream_id']);
    assert.ok(events[0].conversation_id && events[0].stream_id);
    // Every event carries its sequence number as the SSE id, from 1 (resumable streams).
    assert.deepEqual(
      text.split('\n\n').filter(Boolean).map((block) => block.split('\n')[0]),
      events.map((_, i) => `id: ${i + 1}`),
    );
    const contents = events.filter((e) => typeof e?.content === 'string');
    assert.ok(contents.length > 1, 'more than one delta');
    assert.equal(contents.map((e) => e.content).join(''), 'You said: stream this please');
    const usage = events.find((e) => e?.usage)?.usage;
    assert.ok(usage.prompt_tokens > 0 && usage.completion_tokens > 0 && usage.total_tokens === usage.prompt_tokens + usage.completion_tokens);
    assert.equal(events.at(-1), '[DONE]');
    assert.equal(events.indexOf(events.find((e) => e?.usage)), events.length - 2, 'usage comes right before [DONE]');
    assert.equal(chatRequests(f.fake)[0]!.body.stream_options?.include_usage, true);
    const stored = await messagesOf(events[0].conversation_id);
    assert.deepEqual(stored.map((m) => [m.role, m.content, m.status]), [
      ['user', 'stream this please', 'complete'],
      ['assistant', 'You said: stream this please', 'complete'],
    ]);
  });

  test('continues a conversation with its history', async () => {
    const first = parseSse(await (await post({ message: 'first' })).text()) as any[];
    const id = first[0].conversation_id;
    const second = parseSse(await (await post({ message: 'second', conversation_id: id })).text()) as any[];
    assert.equal(second[0].conversation_id, id);
    assert.equal(chatRequests(f.fake).at(-1)!.body.messages.length, 4);
    assert.equal((await messagesOf(id)).length, 4);
  });

  test('a failure before the first token is a plain HTTP error, not a stream', async () => {
    f.fake.addFault({ path: 'chat', status: 500, times: 2, retryAfterMs: '1' });
    const res = await post({ message: 'hi' });
    assert.equal(res.status, 502);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(((await res.json()) as any).error.code, 'upstream_error');
  });

  test('validation and ownership errors are plain HTTP errors too', async () => {
    assert.equal((await post({ message: '' })).status, 422);
    assert.equal((await post({ message: 'x', conversation_id: 'someone-elses' })).status, 404);
    assert.equal(f.fake.counters.chat, 0);
  });

  test('a client disconnect aborts the upstream request at once and stores the partial reply as incomplete', async () => {
    const controller = new AbortController();
    const res = await post({ message: '[[words:400]] [[chunk-delay:20]]' }, controller.signal);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!/"content"/.test(text)) text += decoder.decode((await reader.read()).value, { stream: true });
    const id = (parseSse(text)[0] as any).conversation_id;
    controller.abort();
    await f.fake.waitFor((c) => c.abortedStreams === 1, 2000);
    assert.equal(f.fake.counters.completedStreams, 0);
    const reply = await until(async () => (await messagesOf(id)).find((m) => m.role === 'assistant'), 'the partial reply');
    assert.equal(reply.status, 'incomplete');
    assert.match(reply.content, /^w1\b/);
    assert.ok(reply.content.split(' ').length < 400, 'only what arrived before the disconnect');
  });

  test('an upstream drop mid-stream ends with an error event and stores what arrived as incomplete', async () => {
    f.fake.addFault({ path: 'chat', dropAfterChunks: 4 });
    const res = await post({ message: '[[words:50]]' });
    assert.equal(res.status, 200);
    const events = parseSse(await res.text()) as any[];
    const error = events.at(-1);
    assert.equal(typeof error.error, 'string');
    assert.match(error.code, /^upstream_/);
    assert.ok(!events.includes('[DONE]'));
    const received = events.filter((e) => typeof e?.content === 'string').map((e) => e.content).join('');
    assert.ok(received.length > 0);
    const reply = (await messagesOf(events[0].conversation_id)).find((m) => m.role === 'assistant')!;
    assert.equal(reply.status, 'incomplete');
    assert.equal(reply.content, received);
  });

  test('a slow reader is served with backpressure and still gets the whole reply', async () => {
    const res = await post({ message: '[[words:1500]]' });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let reads = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (++reads % 20 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    const events = parseSse(text) as any[];
    assert.equal(events.at(-1), '[DONE]');
    const words = events.filter((e) => typeof e?.content === 'string').map((e) => e.content).join('').split(' ');
    assert.equal(words.length, 1500);
  });
});
