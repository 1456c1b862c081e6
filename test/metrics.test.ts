import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createChatFixture, type ChatFixture } from './helpers/fake-upstream.js';

/** Prometheus text → samples: name, labels, value. */
function parseMetrics(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
      assert.ok(match, `unparseable line: ${line}`);
      const labels: Record<string, string> = {};
      for (const [, k, v] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
      return { name: match[1]!, labels, value: Number(match[3]) };
    });
}

describe('GET /metrics', () => {
  let f: ChatFixture;
  let base: string;
  let key: string;
  before(async () => {
    f = await createChatFixture({ env: { OPENAI_MAX_RETRIES: '1', OPENAI_MODEL: 'gpt-4.1-mini' } });
    base = await f.t.listen();
    key = (await f.t.createUser()).apiKey;
  });
  after(() => f.close());

  test('is public Prometheus text with default process metrics', async () => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    assert.match(text, /process_cpu_user_seconds_total/);
    assert.match(text, /# TYPE openai_duration_seconds histogram/);
  });

  test('labels upstream calls, tokens, HTTP routes by template and streams after a chat, an upstream error and a stream', async () => {
    const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const chat = await fetch(`${base}/chat`, { method: 'POST', headers: auth, body: JSON.stringify({ message: 'hello' }) });
    assert.equal(chat.status, 200);
    const { conversation_id: id } = (await chat.json()) as { conversation_id: string };
    f.fake.addFault({ path: 'chat', status: 500, times: 2 });
    const failed = await fetch(`${base}/chat`, { method: 'POST', headers: auth, body: JSON.stringify({ message: 'boom' }) });
    assert.equal(failed.status, 502);
    const stream = await fetch(`${base}/chat/stream`, { method: 'POST', headers: auth, body: JSON.stringify({ message: 'stream it' }) });
    assert.match(await stream.text(), /\[DONE\]/);
    assert.equal((await fetch(`${base}/conversations/${id}`, { headers: auth })).status, 200);
    assert.equal((await fetch(`${base}/no/such/${id}`, { headers: auth })).status, 404);

    const text = await (await fetch(`${base}/metrics`)).text();
    const samples = parseMetrics(text);
    const value = (name: string, labels: Record<string, string>) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

    assert.equal(value('openai_requests_total', { model: 'gpt-4.1-mini', status: 'success' }), 2);
    assert.equal(value('openai_requests_total', { model: 'gpt-4.1-mini', status: 'upstream_error' }), 1);
    assert.ok(value('openai_tokens_total', { model: 'gpt-4.1-mini', type: 'prompt' })! > 0);
    assert.ok(value('openai_tokens_total', { model: 'gpt-4.1-mini', type: 'completion' })! > 0);
    assert.equal(value('openai_duration_seconds_count', { model: 'gpt-4.1-mini' }), 3);

    assert.equal(value('http_requests_total', { method: 'POST', route: '/chat', status: '200' }), 1);
    assert.equal(value('http_requests_total', { method: 'POST', route: '/chat', status: '502' }), 1);
    assert.equal(value('http_requests_total', { method: 'POST', route: '/chat/stream', status: '200' }), 1, 'a stream is counted once');
    assert.equal(value('http_requests_total', { method: 'GET', route: '/conversations/:id', status: '200' }), 1);
    assert.equal(value('http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }), 1);
    assert.equal(value('http_request_duration_seconds_count', { method: 'POST', route: '/chat', status: '200' }), 1);
    assert.equal(value('sse_active_streams', {}), 0, 'the finished stream is no longer active');
    assert.equal(value('rate_limit_rejections_total', { kind: 'requests' }) ?? 0, 0);

    for (const s of samples) {
      for (const v of Object.values(s.labels)) assert.ok(!v.includes(id), `an id in a label: ${s.name} ${v}`);
    }
  });

  test('sse_active_streams counts an open stream', async () => {
    const controller = new AbortController();
    const res = await fetch(`${base}/chat/stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: '[[words:50]] [[chunk-delay:50]]' }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    const during = parseMetrics(await (await fetch(`${base}/metrics`)).text()).find((s) => s.name === 'sse_active_streams');
    assert.equal(during?.value, 1);
    controller.abort();
    await new Promise((r) => setTimeout(r, 100));
    const afterwards = parseMetrics(await (await fetch(`${base}/metrics`)).text()).find((s) => s.name === 'sse_active_streams');
    assert.equal(afterwards?.value, 0);
  });

  test('search_index_bytes shows the memory of the search indexes once a user has searched', async () => {
    const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const bytes = async () => parseMetrics(await (await fetch(`${base}/metrics`)).text()).find((s) => s.name === 'search_index_bytes')?.value;
    assert.equal(await bytes(), 0);
    const created = await fetch(`${base}/tasks`, { method: 'POST', headers: auth, body: JSON.stringify({ title: 'Water the plants' }) });
    assert.equal(created.status, 201);
    await f.fake.waitFor((c) => c.embeddedInputs >= 1);
    const found = await fetch(`${base}/search/semantic`, { method: 'POST', headers: auth, body: JSON.stringify({ query: 'plants' }) });
    assert.equal(found.status, 200);
    assert.ok((await bytes())! > 0);
  });

  test('counts rate-limit rejections by kind', async () => {
    const g = await createChatFixture({ env: { RATE_LIMIT_PER_MINUTE: '1' } });
    try {
      const { apiKey } = await g.t.createUser();
      for (let i = 0; i < 3; i++) await g.t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: 'hi' } });
      const samples = parseMetrics((await g.t.request({ method: 'GET', url: '/metrics' })).body);
      assert.equal(samples.find((s) => s.name === 'rate_limit_rejections_total' && s.labels.kind === 'requests')?.value, 2);
    } finally {
      await g.close();
    }
  });
});
