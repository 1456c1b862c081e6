import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import OpenAI from 'openai';
import { startFakeOpenAI, type FakeOpenAI } from '../src/fake-openai/server.js';

const TOOLS = [
  { type: 'function' as const, function: { name: 'create_task', parameters: { type: 'object', properties: {} } } },
  { type: 'function' as const, function: { name: 'list_tasks', parameters: { type: 'object', properties: {} } } },
];

function client(fake: FakeOpenAI, apiKey = 'test-key'): OpenAI {
  return new OpenAI({ baseURL: fake.url, apiKey, maxRetries: 0, timeout: 5000 });
}

function post(fake: FakeOpenAI, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(fake.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** The JSON payloads of the `data:` events of an SSE text ("[DONE]" kept as a string). */
function sseEvents(text: string): unknown[] {
  return text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6))
    .map((d) => (d === '[DONE]' ? d : JSON.parse(d)));
}

function dot(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

function chat(content: string, extra: Record<string, unknown> = {}) {
  return { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content }], ...extra };
}

describe('chat completions', () => {
  let fake: FakeOpenAI;
  let openai: OpenAI;
  before(async () => {
    fake = await startFakeOpenAI();
    openai = client(fake);
  });
  after(() => fake.close());
  beforeEach(() => fake.reset());

  test('default reply echoes the last user message, with OpenAI shape and usage', async () => {
    const r = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'You are helpful.' }, // 16 chars → 4 + 4
        { role: 'user', content: 'hello' }, // 5 chars → 2 + 4
      ],
    });
    assert.match(r.id, /^chatcmpl-/);
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, 'gpt-4o-mini');
    assert.equal(typeof r.created, 'number');
    assert.equal(r.choices.length, 1);
    assert.deepEqual(r.choices[0]?.message.role, 'assistant');
    assert.equal(r.choices[0]?.message.content, 'You said: hello');
    assert.equal(r.choices[0]?.message.refusal, null);
    assert.equal(r.choices[0]?.finish_reason, 'stop');
    assert.deepEqual(
      { prompt_tokens: r.usage?.prompt_tokens, completion_tokens: r.usage?.completion_tokens, total_tokens: r.usage?.total_tokens },
      { prompt_tokens: 14, completion_tokens: 3, total_tokens: 17 },
    );
    assert.equal(fake.counters.chat, 1);
    assert.equal(fake.counters.chatStreams, 0);
  });

  test('content parts are read and directives are stripped from the echo', async () => {
    const r = await openai.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: [{ type: 'text', text: '  [[chunk-delay:1]] hi there  ' }] }],
    });
    assert.equal(r.choices[0]?.message.content, 'You said: hi there');
  });

  test('the reply and words directives set the reply exactly', async () => {
    const a = await openai.chat.completions.create(chat('x [[reply:Exactly [this] text.]] y'));
    assert.equal(a.choices[0]?.message.content, 'Exactly [this] text.');
    const brackets = await openai.chat.completions.create(chat('[[reply:[1, [2]]]]'));
    assert.equal(brackets.choices[0]?.message.content, '[1, [2]]', 'extra ] before ]] belong to the argument');
    const b = await openai.chat.completions.create(chat('[[words:5]]'));
    assert.equal(b.choices[0]?.message.content, 'w1 w2 w3 w4 w5');
    assert.equal(b.usage?.completion_tokens, 5);
  });

  test('max_tokens truncates the reply with finish_reason length', async () => {
    const r = await openai.chat.completions.create(chat('[[words:10]]', { max_tokens: 3 }));
    assert.equal(r.choices[0]?.message.content, 'w1 w2 w3');
    assert.equal(r.choices[0]?.finish_reason, 'length');
    assert.equal(r.usage?.completion_tokens, 3);
  });

  test('streamed content concatenates to the non-streamed reply; usage chunk only with include_usage', async () => {
    const prompt = 'tell me   something [[reply:  Hello,  streaming world!\nBye. ]]';
    const plain = await openai.chat.completions.create(chat(prompt));

    const withUsage = await openai.chat.completions.create({ ...chat(prompt), stream: true, stream_options: { include_usage: true } });
    let text = '';
    const chunks = [];
    for await (const c of withUsage) {
      chunks.push(c);
      text += c.choices[0]?.delta.content ?? '';
    }
    assert.equal(text, plain.choices[0]?.message.content);
    assert.deepEqual(chunks[0]?.choices[0]?.delta, { role: 'assistant', content: '', refusal: null });
    assert.equal(chunks[0]?.object, 'chat.completion.chunk');
    const contentChunks = chunks.filter((c) => (c.choices[0]?.delta.content ?? '') !== '');
    assert.equal(contentChunks.length, 4, 'one chunk per word');
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last?.choices, []);
    assert.deepEqual(last?.usage, plain.usage);
    assert.equal(chunks[chunks.length - 2]?.choices[0]?.finish_reason, 'stop');

    const noUsage = await openai.chat.completions.create({ ...chat(prompt), stream: true });
    const chunks2 = [];
    for await (const c of noUsage) chunks2.push(c);
    assert.ok(chunks2.every((c) => c.usage == null && c.choices.length === 1));
    assert.equal(chunks2[chunks2.length - 1]?.choices[0]?.finish_reason, 'stop');
    assert.equal(fake.counters.chatStreams, 2);
    assert.equal(fake.counters.completedStreams, 2);
  });

  test('raw stream is text/event-stream ending with [DONE], and long streams arrive whole', async () => {
    const r = await post(fake, '/chat/completions', chat('[[words:20000]]', { stream: true }));
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events = sseEvents(await r.text());
    assert.equal(events[events.length - 1], '[DONE]');
    const text = events
      .slice(0, -1)
      .map((e) => (e as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '')
      .join('');
    assert.equal(text.split(' ').length, 20000);
    assert.ok(text.startsWith('w1 w2 ') && text.endsWith(' w20000'));
  });

  test('tool directive answers with tool calls whose arguments are verbatim', async () => {
    const r = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      tools: TOOLS,
      messages: [{ role: 'user', content: 'Please [[tool:create_task {"title":"Buy [milk]"]] and [[tool:list_tasks]] and [[tool:create_task {bad json]]' }],
    });
    const choice = r.choices[0];
    assert.equal(choice?.finish_reason, 'tool_calls');
    assert.equal(choice?.message.content, null);
    const calls = choice?.message.tool_calls ?? [];
    assert.equal(calls.length, 3);
    const fns = calls.map((c) => (c.type === 'function' ? [c.function.name, c.function.arguments] : []));
    assert.deepEqual(fns, [
      ['create_task', '{"title":"Buy [milk]"'],
      ['list_tasks', '{}'],
      ['create_task', '{bad json'],
    ]);
    for (const c of calls) assert.match(c.id, /^call_/);
    assert.equal(new Set(calls.map((c) => c.id)).size, 3);
  });

  test('tool directive is ignored without tools and after tool_choice none', async () => {
    const a = await openai.chat.completions.create(chat('[[tool:list_tasks]] show'));
    assert.equal(a.choices[0]?.message.content, 'You said: show');
    const b = await openai.chat.completions.create({ ...chat('[[tool:list_tasks]] show'), tools: TOOLS, tool_choice: 'none' });
    assert.equal(b.choices[0]?.message.content, 'You said: show');
  });

  test('tool with reply: the assistant message carries the text before its calls, streamed first', async () => {
    const request = { model: 'gpt-4o-mini', tools: TOOLS, messages: [{ role: 'user' as const, content: '[[reply:On it.]] [[tool:list_tasks {"status":"all"}]]' }] };
    const whole = await openai.chat.completions.create(request);
    assert.equal(whole.choices[0]?.message.content, 'On it.');
    assert.equal(whole.choices[0]?.message.tool_calls?.length, 1);
    assert.equal(whole.choices[0]?.finish_reason, 'tool_calls');
    const order: string[] = [];
    for await (const c of await openai.chat.completions.create({ ...request, stream: true })) {
      const delta = c.choices[0]?.delta;
      if (delta?.content) order.push('text');
      if (delta?.tool_calls?.length) order.push('call');
    }
    assert.equal(order[0], 'text');
    assert.ok(order.includes('call') && order.indexOf('call') > order.lastIndexOf('text'));
  });

  test('streamed tool calls arrive fragmented and reassemble by index', async () => {
    const args = '{"title":"Write the quarterly report","priority":"high"}';
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      tools: TOOLS,
      stream: true,
      messages: [{ role: 'user', content: `[[tool:create_task ${args}]] [[tool:list_tasks {"status":"all"}]]` }],
    });
    const calls: Array<{ id?: string; name?: string; args: string; fragments: number }> = [];
    let finish: string | null | undefined;
    for await (const c of stream) {
      const choice = c.choices[0];
      if (choice?.finish_reason) finish = choice.finish_reason;
      for (const tc of choice?.delta.tool_calls ?? []) {
        const slot = (calls[tc.index] ??= { args: '', fragments: 0 });
        if (tc.id !== undefined) {
          // The first delta of a call carries id, type, name and empty arguments.
          assert.equal(slot.id, undefined);
          assert.equal(tc.type, 'function');
          assert.equal(tc.function?.arguments, '');
          slot.id = tc.id;
          slot.name = tc.function?.name;
        } else {
          assert.equal(tc.function?.name, undefined);
          const frag = tc.function?.arguments ?? '';
          assert.ok(frag.length >= 1 && frag.length <= 8, `fragment "${frag}"`);
          slot.args += frag;
          slot.fragments++;
        }
      }
    }
    assert.equal(finish, 'tool_calls');
    assert.equal(calls.length, 2);
    assert.equal(calls[0]?.name, 'create_task');
    assert.equal(calls[0]?.args, args);
    assert.ok((calls[0]?.fragments ?? 0) > 3);
    assert.equal(calls[1]?.name, 'list_tasks');
    assert.equal(calls[1]?.args, '{"status":"all"}');
    assert.match(calls[0]?.id ?? '', /^call_/);
  });

  test('after tool results the reply is "Done: " + the results joined', async () => {
    const r = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      tools: TOOLS,
      messages: [
        { role: 'user', content: '[[tool:create_task {"title":"a"}]] [[tool:list_tasks {}]]' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'create_task', arguments: '{"title":"a"}' } },
            { id: 'call_2', type: 'function', function: { name: 'list_tasks', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '{"id":"t1"}' },
        { role: 'tool', tool_call_id: 'call_2', content: '[]' },
      ],
    });
    assert.equal(r.choices[0]?.message.content, 'Done: {"id":"t1"}; []');
    assert.equal(r.choices[0]?.finish_reason, 'stop');
  });

  test('always-tool keeps calling tools after tool results', async () => {
    const r = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      tools: TOOLS,
      messages: [
        { role: 'user', content: '[[always-tool:list_tasks {"status":"all"}]]' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'list_tasks', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '[]' },
      ],
    });
    assert.equal(r.choices[0]?.finish_reason, 'tool_calls');
    const tc = r.choices[0]?.message.tool_calls?.[0];
    assert.ok(tc?.type === 'function');
    assert.equal(tc.function.name, 'list_tasks');
    assert.equal(tc.function.arguments, '{"status":"all"}');
  });

  test('error directive answers with that status', async () => {
    await assert.rejects(openai.chat.completions.create(chat('[[error:503]]')), (e: unknown) => e instanceof OpenAI.APIError && e.status === 503);
  });

  test('invalid requests get 400 invalid_request_error', async () => {
    const cases: unknown[] = [
      '{not json',
      { messages: [{ role: 'user', content: 'x' }] },
      { model: 'm', messages: [] },
      { model: 'm' },
      { model: 'm', messages: [{ role: 'wizard', content: 'x' }] },
      { model: 'm', messages: [{ role: 'tool', tool_call_id: 'call_x', content: 'orphan result' }] },
      {
        model: 'm',
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
          { role: 'user', content: 'missing tool result' },
        ],
      },
    ];
    for (const body of cases) {
      const r = await post(fake, '/chat/completions', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      const j = (await r.json()) as { error: { message: string; type: string; param: unknown; code: unknown } };
      assert.equal(j.error.type, 'invalid_request_error');
      assert.equal(typeof j.error.message, 'string');
      assert.ok('param' in j.error && 'code' in j.error);
    }
  });

  test('models list, model lookup and unknown paths', async () => {
    const list = await openai.models.list();
    const ids = list.data.map((m) => m.id);
    for (const id of ['gpt-4o-mini', 'text-embedding-3-small', 'text-embedding-3-large']) assert.ok(ids.includes(id), id);
    assert.ok(list.data.every((m) => m.object === 'model' && m.owned_by === 'fake' && typeof m.created === 'number'));
    const one = await openai.models.retrieve('text-embedding-3-small');
    assert.equal(one.id, 'text-embedding-3-small');
    await assert.rejects(openai.models.retrieve('nope'), (e: unknown) => e instanceof OpenAI.NotFoundError);
    const r = await fetch(fake.url + '/nothing-here');
    assert.equal(r.status, 404);
    const j = (await r.json()) as { error: { type: string } };
    assert.equal(j.error.type, 'invalid_request_error');
    assert.equal(fake.counters.models, 3);
  });
});

describe('embeddings', () => {
  let fake: FakeOpenAI;
  let openai: OpenAI;
  before(async () => {
    fake = await startFakeOpenAI();
    openai = client(fake);
  });
  after(() => fake.close());

  const floats = async (input: string | string[], extra: Record<string, unknown> = {}) => {
    const r = await openai.embeddings.create({ model: 'text-embedding-3-small', input, encoding_format: 'float', ...extra });
    return r.data.map((d) => d.embedding);
  };

  test('vectors are deterministic unit vectors; identical texts have cosine 1', async () => {
    const [a, b] = await floats(['Buy milk and eggs', 'Buy milk and eggs']);
    const [c] = await floats('Buy milk and eggs');
    assert.equal(a?.length, 1536);
    assert.deepEqual(a, b);
    assert.deepEqual(a, c);
    assert.ok(Math.abs(dot(a!, a!) - 1) < 1e-5);
    assert.ok(Math.abs(dot(a!, b!) - 1) < 1e-5);
  });

  test('texts sharing words are more similar than unrelated texts', async () => {
    const [q, near, far] = await floats(['buy groceries: milk and eggs', 'remember to buy milk', 'quantum physics lecture notes']);
    const simNear = dot(q!, near!);
    const simFar = dot(q!, far!);
    assert.ok(simNear > simFar + 0.2, `near ${simNear} far ${simFar}`);
    assert.ok(simNear > 0.3);
  });

  test('the SDK default (base64) decodes to the same numbers as float', async () => {
    const input = ['first text', 'second, longer text with more words'];
    const viaBase64 = await openai.embeddings.create({ model: 'text-embedding-3-small', input });
    const viaFloat = await floats(input);
    assert.deepEqual(
      viaBase64.data.map((d) => d.embedding),
      viaFloat,
    );
    assert.equal(fake.requests.at(-2)?.body.encoding_format, 'base64');
    assert.deepEqual(viaBase64.data.map((d) => d.index), [0, 1]);
    assert.equal(viaBase64.object, 'list');
    assert.equal(viaBase64.model, 'text-embedding-3-small');
    assert.ok(viaBase64.usage.prompt_tokens > 0 && viaBase64.usage.total_tokens === viaBase64.usage.prompt_tokens);
  });

  test('dimensions are honoured, with model defaults', async () => {
    const [small] = await floats('hello', { dimensions: 256 });
    assert.equal(small?.length, 256);
    assert.ok(Math.abs(dot(small!, small!) - 1) < 1e-5);
    const large = await openai.embeddings.create({ model: 'text-embedding-3-large', input: 'hello' });
    assert.equal(large.data[0]?.embedding.length, 3072);
    const tokens = await openai.embeddings.create({ model: 'text-embedding-3-small', input: [[1, 2, 3]] });
    assert.equal(tokens.data[0]?.embedding.length, 1536);
  });

  test('more than 2048 inputs, empty input and bad dimensions are rejected with 400', async () => {
    const bodies = [
      { model: 'text-embedding-3-small', input: Array.from({ length: 2049 }, (_, i) => `t${i}`) },
      { model: 'text-embedding-3-small', input: '' },
      { model: 'text-embedding-3-small', input: [] },
      { model: 'text-embedding-3-small', input: 'x', dimensions: 5000 },
      { input: 'x' },
    ];
    for (const body of bodies) {
      const r = await post(fake, '/embeddings', body);
      assert.equal(r.status, 400);
      const j = (await r.json()) as { error: { type: string } };
      assert.equal(j.error.type, 'invalid_request_error');
    }
    const ok = await post(fake, '/embeddings', { model: 'text-embedding-3-small', input: Array.from({ length: 2048 }, (_, i) => `t${i}`) });
    assert.equal(ok.status, 200);
  });

  test('a batch of 100 texts gets 100 distinct vectors in input order', async () => {
    const input = Array.from({ length: 100 }, (_, i) => `task ${i}: prepare the weekly status report for the team`);
    const before = fake.counters.embeddedInputs;
    const out = await floats(input);
    assert.equal(out.length, 100);
    assert.deepEqual(out[42], (await floats(input[42] as string))[0]);
    assert.notDeepEqual(out[0], out[1]);
    assert.equal(fake.counters.embeddedInputs - before, 101);
  });
});

describe('fault injection', () => {
  let fake: FakeOpenAI;
  let openai: OpenAI;
  before(async () => {
    fake = await startFakeOpenAI();
    openai = client(fake);
  });
  after(() => fake.close());
  beforeEach(() => fake.reset());

  test('a status fault with retry-after-ms is served for `times` requests, then consumed', async () => {
    fake.addFault({ path: 'chat', status: 429, retryAfterMs: '250', retryAfter: '1', times: 2 });
    for (let i = 0; i < 2; i++) {
      const r = await post(fake, '/chat/completions', chat('hi'));
      assert.equal(r.status, 429);
      assert.equal(r.headers.get('retry-after-ms'), '250');
      assert.equal(r.headers.get('retry-after'), '1');
      const j = (await r.json()) as { error: Record<string, unknown> };
      assert.deepEqual(Object.keys(j.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(j.error.param, null);
      assert.equal(j.error.code, 'rate_limit_exceeded');
    }
    const ok = await post(fake, '/chat/completions', chat('hi'));
    assert.equal(ok.status, 200);
    assert.equal(fake.counters.faultsServed, 2);
    assert.equal(fake.counters.chat, 3);
  });

  test('faults only hit their path and apply in order; custom bodies are sent as given', async () => {
    fake.addFault({ path: 'embeddings', status: 500 });
    fake.addFault({ path: 'chat', status: 502, body: { error: { message: 'custom', type: 'server_error', param: null, code: 'x' } } });
    fake.addFault({ path: 'chat', body: 'this is not json' });
    const a = await post(fake, '/chat/completions', chat('hi'));
    assert.equal(a.status, 502);
    assert.equal(((await a.json()) as { error: { message: string } }).error.message, 'custom');
    const b = await post(fake, '/chat/completions', chat('hi'));
    assert.equal(b.status, 200);
    assert.equal(await b.text(), 'this is not json');
    const e = await post(fake, '/embeddings', { model: 'text-embedding-3-small', input: 'x' });
    assert.equal(e.status, 500);
    assert.equal((await post(fake, '/chat/completions', chat('hi'))).status, 200, 'no fault left');
    assert.equal((await post(fake, '/embeddings', { model: 'text-embedding-3-small', input: 'x' })).status, 200, 'no fault left');
    assert.equal(fake.counters.faultsServed, 3);
  });

  test('an SDK call sees a status fault as the matching APIError', async () => {
    fake.addFault({ status: 503 });
    await assert.rejects(openai.chat.completions.create(chat('hi')), (e: unknown) => e instanceof OpenAI.InternalServerError && e.status === 503);
  });

  test('delayMs delays the answer', async () => {
    fake.addFault({ path: 'models', delayMs: 150 });
    const t0 = performance.now();
    const r = await fetch(fake.url + '/models');
    assert.equal(r.status, 200);
    assert.ok(performance.now() - t0 >= 140);
  });

  test('drop destroys the connection without an answer', async () => {
    fake.addFault({ drop: true, times: 2 });
    await assert.rejects(fetch(fake.url + '/models'), TypeError);
    await assert.rejects(openai.chat.completions.create(chat('hi')), (e: unknown) => e instanceof OpenAI.APIConnectionError);
    assert.equal(fake.counters.faultsServed, 2);
  });

  test('dropAfterChunks cuts a stream after N chunks; the client sees a premature close', async () => {
    fake.addFault({ path: 'chat', dropAfterChunks: 3 });
    // A non-streaming request does not consume a dropAfterChunks fault.
    const plain = await openai.chat.completions.create(chat('[[words:10]]'));
    assert.equal(plain.choices[0]?.message.content, 'w1 w2 w3 w4 w5 w6 w7 w8 w9 w10');

    const r = await post(fake, '/chat/completions', chat('[[words:10]]', { stream: true }));
    assert.equal(r.status, 200);
    const reader = r.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    await assert.rejects(async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
    });
    const events = sseEvents(text) as Array<{ choices: Array<{ delta: { content?: string } }> }>;
    assert.equal(events.length, 4, 'role chunk + 3 content chunks');
    assert.equal(events.map((e) => e.choices[0]?.delta.content).join(''), 'w1 w2 w3');
    assert.equal(fake.counters.faultsServed, 1);
    assert.equal(fake.counters.completedStreams, 0);
    assert.equal(fake.counters.abortedStreams, 0);

    fake.addFault({ dropAfterChunks: 1 });
    const stream = await openai.chat.completions.create({ ...chat('[[words:10]]'), stream: true });
    let got = '';
    await assert.rejects(async () => {
      for await (const c of stream) got += c.choices[0]?.delta.content ?? '';
    });
    assert.equal(got, 'w1');
  });

  test('drop-after directive cuts a stream too', async () => {
    const stream = await openai.chat.completions.create({ ...chat('[[words:10]] [[drop-after:2]]'), stream: true });
    let got = '';
    await assert.rejects(async () => {
      for await (const c of stream) got += c.choices[0]?.delta.content ?? '';
    });
    assert.equal(got, 'w1 w2');
  });

  test('a client abort mid-stream counts in abortedStreams', async () => {
    const ac = new AbortController();
    const r = await fetch(fake.url + '/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(chat('[[chunk-delay:20]] [[words:200]]', { stream: true })),
      signal: ac.signal,
    });
    const reader = r.body!.getReader();
    await reader.read();
    ac.abort();
    await fake.waitFor((c) => c.abortedStreams === 1);
    assert.equal(fake.counters.completedStreams, 0);
  });

  test('addFault rejects invalid faults', () => {
    assert.throws(() => fake.addFault({ path: 'nope' as never }), TypeError);
    assert.throws(() => fake.addFault({ times: 0 }), TypeError);
    assert.throws(() => fake.addFault({ status: 42 }), TypeError);
  });
});

describe('api key, control endpoints and lifecycle', () => {
  test('with apiKey set, requests without the right key get 401 invalid_api_key', async () => {
    const fake = await startFakeOpenAI({ apiKey: 'sk-right' });
    try {
      await assert.rejects(
        client(fake, 'sk-wrong').chat.completions.create(chat('hi')),
        (e: unknown) => e instanceof OpenAI.AuthenticationError && e.code === 'invalid_api_key',
      );
      const r = await fetch(fake.url + '/models');
      assert.equal(r.status, 401);
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'invalid_api_key');
      const ok = await client(fake, 'sk-right').chat.completions.create(chat('hi'));
      assert.equal(ok.choices[0]?.message.content, 'You said: hi');
    } finally {
      await fake.close();
    }
  });

  test('control endpoints drive faults, counters, recorded requests and reset over HTTP', async () => {
    const fake = await startFakeOpenAI();
    const base = fake.url.replace(/\/v1$/, '');
    try {
      const add = await fetch(base + '/_fake/faults', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ path: 'models', status: 500 }, { path: 'models', status: 429, retryAfter: '2' }]),
      });
      assert.equal(add.status, 204);
      assert.equal((await fetch(fake.url + '/models')).status, 500);
      const second = await fetch(fake.url + '/models');
      assert.equal(second.status, 429);
      assert.equal(second.headers.get('retry-after'), '2');
      assert.equal((await fetch(fake.url + '/models')).status, 200);

      const bad = await fetch(base + '/_fake/faults', { method: 'POST', body: '{"times":-1}' });
      assert.equal(bad.status, 400);

      const counters = (await (await fetch(base + '/_fake/counters')).json()) as Record<string, number>;
      assert.equal(counters.models, 3);
      assert.equal(counters.requests, 3);
      assert.equal(counters.faultsServed, 2);

      await post(fake, '/chat/completions', chat('recorded?'), { authorization: 'Bearer abc' });
      const recorded = (await (await fetch(base + '/_fake/requests')).json()) as Array<{ path: string; headers: Record<string, string>; body: { messages: unknown[] }; at: number }>;
      const last = recorded[recorded.length - 1];
      assert.equal(last?.path, '/v1/chat/completions');
      assert.equal(last?.headers.authorization, 'Bearer abc');
      assert.deepEqual(last?.body.messages, [{ role: 'user', content: 'recorded?' }]);
      assert.equal(typeof last?.at, 'number');
      assert.equal(fake.requests.length, 4);

      await fetch(base + '/_fake/faults', { method: 'POST', body: JSON.stringify({ status: 500 }) });
      const reset = await fetch(base + '/_fake/reset', { method: 'POST' });
      assert.equal(reset.status, 204);
      assert.deepEqual(Object.values(fake.counters), Object.values(fake.counters).map(() => 0));
      assert.equal(fake.requests.length, 0);
      assert.equal((await fetch(fake.url + '/models')).status, 200, 'reset cleared the queued fault');
    } finally {
      await fake.close();
    }
  });

  test('record: false keeps no requests', async () => {
    const fake = await startFakeOpenAI({ record: false });
    try {
      await fetch(fake.url + '/models');
      assert.equal(fake.requests.length, 0);
      assert.equal(fake.counters.requests, 1);
    } finally {
      await fake.close();
    }
  });

  test('close() ends open streams at once and is idempotent', async () => {
    const fake = await startFakeOpenAI();
    const stream = await client(fake).chat.completions.create({ ...chat('[[chunk-delay:1000]] [[words:100]]'), stream: true });
    const consumed = (async () => {
      for await (const c of stream) void c;
    })();
    await fake.waitFor((c) => c.chatStreams === 1);
    // The stream would last 100 s: close() only resolves this soon because it destroys the socket.
    await Promise.all([fake.close(), fake.close()]);
    await assert.rejects(consumed);
    assert.equal(fake.counters.abortedStreams, 0, 'shutdown is not a client abort');
  });

  test('waitFor rejects after its timeout', async () => {
    const fake = await startFakeOpenAI();
    try {
      await assert.rejects(fake.waitFor((c) => c.chat === 1, 30), /waitFor/);
    } finally {
      await fake.close();
    }
  });
});

describe('cli', () => {
  test('npm run fake-openai entry prints its URL, serves, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/fake-openai/cli.ts'], {
      env: { ...process.env, FAKE_OPENAI_HOST: '127.0.0.1', FAKE_OPENAI_PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      let out = '';
      child.stdout.setEncoding('utf8');
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (c: string) => {
          out += c;
          if (out.includes('\n')) resolve(out.split('\n')[0] as string);
        });
        child.once('exit', (code) => reject(new Error(`cli exited early with ${code}`)));
      });
      const m = /^fake-openai listening on (http:\/\/127\.0\.0\.1:\d+\/v1)$/.exec(line);
      assert.ok(m, line);
      const r = await fetch(m[1] + '/models');
      assert.equal(r.status, 200);
      const counters = (await (await fetch(m[1]!.replace(/\/v1$/, '/_fake/counters'))).json()) as { models: number };
      assert.equal(counters.models, 1);
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
