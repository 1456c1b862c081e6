import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { chatRequests, createChatFixture, parseSse, type ChatFixture } from './helpers/fake-upstream.js';

describe('POST /agent/stream', () => {
  let f: ChatFixture;
  let base: string;
  let key: string;
  before(async () => {
    f = await createChatFixture({ env: { OPENAI_MAX_RETRIES: '1', AGENT_MAX_ITERATIONS: '3' } });
    base = await f.t.listen();
    key = (await f.t.createUser()).apiKey;
  });
  beforeEach(() => f.fake.reset());
  after(() => f.close());

  const post = (body: unknown, signal?: AbortSignal) =>
    fetch(`${base}/agent/stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      ...(signal && { signal }),
    });
  const kind = (event: any) => (typeof event === 'string' ? event : Object.keys(event)[0]);
  const messagesOf = async (id: string) =>
    (await f.t.request({ method: 'GET', url: `/conversations/${id}/messages`, key })).json().data as any[];

  test('emits conversation_id, tool_call, tool_result, content, usage and [DONE] in order, assembling fragmented arguments', async () => {
    const args = { title: 'Write the quarterly report for the board', description: 'Include the numbers from every region', priority: 'high' };
    const res = await post({ message: `[[tool:create_task ${JSON.stringify(args)}]]` });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events = parseSse(await res.text()) as any[];
    assert.deepEqual(Object.keys(events[0]), ['conversation_id', 'stream_id']);

    const kinds = events.map(kind).filter((k, i, all) => k !== 'content' || all[i - 1] !== 'content');
    assert.deepEqual(kinds, ['conversation_id', 'tool_call', 'tool_result', 'content', 'usage', '[DONE]']);
    const call = events.find((e) => e.tool_call).tool_call;
    assert.deepEqual(call, { name: 'create_task', arguments: args }, 'the arguments arrived in fragments and were put back together');
    const result = events.find((e) => e.tool_result).tool_result;
    assert.equal(result.name, 'create_task');
    assert.equal(result.result.title, args.title);
    const text = events.filter((e) => typeof e.content === 'string').map((e) => e.content).join('');
    assert.equal(text, `Done: ${JSON.stringify(result.result)}`);

    const usage = events.find((e) => e.usage).usage;
    assert.equal(chatRequests(f.fake).length, 2);
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    // The fake's rule: prompt = Σ ceil(chars / 4) + 4 per message, tool-call names and arguments included.
    const prompt = (messages: any[]) =>
      messages.reduce((sum, m) => {
        const calls = (m.tool_calls ?? []).reduce((n: number, c: any) => n + c.function.name.length + c.function.arguments.length, 0);
        return sum + Math.ceil(((m.content ?? '').length + calls) / 4) + 4;
      }, 0);
    const [first, second] = chatRequests(f.fake).map((r) => r.body.messages as any[]);
    assert.equal(usage.prompt_tokens, prompt(first!) + prompt(second!), 'the prompts of both model calls are summed');

    const tasks = (await f.t.request({ method: 'GET', url: '/tasks', key })).json().data;
    assert.equal(tasks[0].title, args.title);
    const stored = await messagesOf(events[0].conversation_id);
    assert.deepEqual(stored.map((m) => [m.role, m.status]), [
      ['user', 'complete'],
      ['assistant', 'complete'],
      ['tool', 'complete'],
      ['assistant', 'complete'],
    ]);
    assert.equal(stored[2].tool_call_id, stored[1].tool_calls[0].id);
    assert.equal(stored[3].content, text);
  });

  test('several calls streamed in one turn are assembled by index and all run', async () => {
    const res = await post({ message: '[[tool:create_task {"title":"alpha task here"}]] [[tool:list_tasks {"status":"pending"}]] [[tool:nope {oops]]' });
    const events = parseSse(await res.text()) as any[];
    assert.deepEqual(
      events.filter((e) => e.tool_call).map((e) => e.tool_call),
      [
        { name: 'create_task', arguments: { title: 'alpha task here' } },
        { name: 'list_tasks', arguments: { status: 'pending' } },
        { name: 'nope', arguments: '{oops' },
      ],
    );
    const results = events.filter((e) => e.tool_result).map((e) => e.tool_result);
    assert.deepEqual(results.map((r) => r.name), ['create_task', 'list_tasks', 'nope']);
    assert.match(results[2].result.error, /Unknown tool/);
    const answers = (chatRequests(f.fake)[1]!.body.messages as any[]).filter((m) => m.role === 'tool');
    const ids = (chatRequests(f.fake)[1]!.body.messages as any[]).find((m) => m.tool_calls).tool_calls.map((c: any) => c.id);
    assert.deepEqual(answers.map((a) => a.tool_call_id), ids);
    assert.equal(events.at(-1), '[DONE]');
  });

  test('the iteration cap ends the stream with a note, usage and [DONE]', async () => {
    const events = parseSse(await (await post({ message: '[[always-tool:list_tasks {}]]' })).text()) as any[];
    assert.equal(events.filter((e) => e.tool_call).length, 3);
    assert.equal(f.fake.counters.chatStreams, 3);
    assert.match(events.filter((e) => typeof e.content === 'string').at(-1).content, /AGENT_MAX_ITERATIONS/);
    assert.deepEqual(events.slice(-2).map(kind), ['usage', '[DONE]']);
  });

  test('a failure before anything was sent is a plain HTTP error', async () => {
    f.fake.addFault({ path: 'chat', status: 500, times: 2, retryAfterMs: '1' });
    const res = await post({ message: '[[tool:list_tasks {}]]' });
    assert.equal(res.status, 502);
    assert.equal(((await res.json()) as any).error.code, 'upstream_error');
  });

  test('validation and ownership errors are plain HTTP errors too', async () => {
    assert.equal((await post({ message: '' })).status, 422);
    assert.equal((await post({ message: 'x', conversation_id: 'someone-elses' })).status, 404);
    assert.equal(f.fake.counters.chat, 0);
  });

  test('a failure after the first event ends the stream with an error event, and the history stays valid', async () => {
    const pending = post({ message: '[[tool:create_task {"title":"survives the failure"}]] [[chunk-delay:20]]' });
    await f.fake.waitFor((c) => c.chatStreams === 1);
    // Queued while the first call streams, so it hits the second call (and its one retry).
    f.fake.addFault({ path: 'chat', status: 500, times: 2, retryAfterMs: '1' });
    const res = await pending;
    assert.equal(res.status, 200);
    const events = parseSse(await res.text()) as any[];
    assert.deepEqual(events.map(kind), ['conversation_id', 'tool_call', 'tool_result', 'error']);
    assert.equal(events.at(-1).code, 'upstream_error');

    f.fake.reset();
    const next = await f.t.request({ method: 'POST', url: '/agent', key, json: { message: 'go on', conversation_id: events[0].conversation_id } });
    assert.equal(next.statusCode, 200, 'the stored tool call and its answer replay as a valid history');
  });

  test('a client disconnect aborts the upstream call and stops the loop', async () => {
    const controller = new AbortController();
    const title = 'a long title that takes a while to stream '.repeat(5).trim();
    const res = await post({ message: `[[always-tool:create_task {"title":"${title}"}]] [[chunk-delay:20]]` }, controller.signal);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!/"tool_result"/.test(text)) text += decoder.decode((await reader.read()).value, { stream: true });
    const id = (parseSse(text)[0] as any).conversation_id;
    await f.fake.waitFor((c) => c.chatStreams === 2);
    controller.abort();
    await f.fake.waitFor((c) => c.abortedStreams === 1, 2000);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(f.fake.counters.chatStreams, 2, 'no model call after the disconnect');

    f.fake.reset();
    const next = await f.t.request({ method: 'POST', url: '/chat', key, json: { message: 'still there?', conversation_id: id } });
    assert.equal(next.statusCode, 200, 'the cut-off turn left a valid history');
    const roles = (await messagesOf(id)).map((m) => m.role);
    assert.deepEqual(roles.slice(0, 3), ['user', 'assistant', 'tool']);
  });
});
