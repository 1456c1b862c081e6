import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { z } from 'zod';
import { runToolCall, type Tool } from '../src/services/agent/tools.js';
import { createTaskInput } from '../src/services/task-schemas.js';
import { TEST_DATABASES } from './helpers/databases.js';
import { chatRequests, createChatFixture, type ChatFixture } from './helpers/fake-upstream.js';

type Sent = { role: string; content: string | null; tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>; tool_call_id?: string };

/** The fake's token rule for a request's prompt: Σ ceil(chars / 4) + 4, tool-call names and arguments included. */
const fakePromptTokens = (messages: Sent[]) =>
  messages.reduce((sum, m) => {
    const calls = (m.tool_calls ?? []).reduce((s, c) => s + c.function.name.length + c.function.arguments.length, 0);
    return sum + Math.ceil(((m.content ?? '').length + calls) / 4) + 4;
  }, 0);

/** The replayed messages as [role, what identifies them]: tool_call ids for calls and answers. */
const shape = (messages: Sent[]) =>
  messages.map((m) =>
    m.tool_calls ? [m.role, m.tool_calls.map((c) => c.id)] : m.role === 'tool' ? [m.role, m.tool_call_id] : [m.role, m.content],
  );

for (const database of TEST_DATABASES) {
  describe(`POST /agent (${database.name})`, () => {
    let f: ChatFixture;
    let alice: string;
    let bob: string;
    before(async () => {
      f = await createChatFixture({ database, env: { AGENT_MAX_ITERATIONS: '3' } });
      alice = (await f.t.createUser('alice')).apiKey;
      bob = (await f.t.createUser('bob')).apiKey;
    });
    beforeEach(() => f.fake.reset());
    after(() => f.close());

    const agent = (key: string, body: Record<string, unknown>) => f.t.request({ method: 'POST', url: '/agent', key, json: body });
    const tasksOf = async (key: string) => (await f.t.request({ method: 'GET', url: '/tasks?status=all', key })).json().data as any[];
    const messagesOf = async (key: string, id: string) =>
      (await f.t.request({ method: 'GET', url: `/conversations/${id}/messages`, key })).json().data as any[];

    test('search_tasks finds the caller\'s tasks by meaning and never another user\'s', async () => {
      const carol = (await f.t.createUser('carol')).apiKey;
      const dave = (await f.t.createUser('dave')).apiKey;
      for (const title of ['Renew passport at the embassy', 'Water the garden plants']) {
        assert.equal((await f.t.request({ method: 'POST', url: '/tasks', key: carol, json: { title } })).statusCode, 201);
      }
      await f.t.request({ method: 'POST', url: '/tasks', key: dave, json: { title: 'Renew passport at the embassy' } });
      const res = await agent(carol, { message: 'passport? [[tool:search_tasks {"query":"Renew passport at the embassy","top_k":5}]]' });
      assert.equal(res.statusCode, 200);
      const [call] = res.json().tool_calls;
      assert.equal(call.name, 'search_tasks');
      const results = call.result.results as Array<{ id: string; title: string; similarity: number }>;
      assert.equal(results[0]!.title, 'Renew passport at the embassy');
      assert.ok(results[0]!.similarity > 0.999);
      const carolIds = new Set((await tasksOf(carol)).map((t) => t.id));
      assert.equal(results.length, 2);
      assert.ok(results.every((r) => carolIds.has(r.id)), 'only the caller\'s tasks');
      const bad = await agent(carol, { message: '[[tool:search_tasks {"query":"x","top_k":99}]]' });
      assert.match(bad.json().tool_calls[0].result.error, /top_k/);
    });

    test('a create_task call creates the task for the caller only and the model gets its result', async () => {
      const res = await agent(alice, { message: 'Remember milk [[tool:create_task {"title":"Buy milk","priority":"high"}]]' });
      assert.equal(res.statusCode, 200);
      const body = res.json();
      assert.equal(body.iterations, 2);
      assert.equal(body.tool_calls.length, 1);
      const [call] = body.tool_calls;
      assert.equal(call.name, 'create_task');
      assert.deepEqual(call.arguments, { title: 'Buy milk', priority: 'high' });
      assert.equal(call.result.title, 'Buy milk');
      assert.equal(call.result.priority, 'high');
      assert.equal(call.result.status, 'pending');
      assert.equal(body.message, `Done: ${JSON.stringify(call.result)}`);

      const aliceTasks = await tasksOf(alice);
      assert.deepEqual(aliceTasks.map((t) => [t.id, t.title]), [[call.result.id, 'Buy milk']]);
      assert.deepEqual(await tasksOf(bob), []);

      const stored = await messagesOf(alice, body.conversation_id);
      assert.deepEqual(stored.map((m) => m.role), ['user', 'assistant', 'tool', 'assistant']);
      assert.equal(stored[1].tool_calls[0].function.name, 'create_task');
      assert.equal(stored[2].tool_call_id, stored[1].tool_calls[0].id);
      assert.ok(stored.every((m) => m.tokens > 3), 'tool-call and tool messages are counted for the history budget');
    });

    test('tokens_used sums the usage of every model call', async () => {
      const body = (await agent(alice, { message: '[[tool:list_tasks {"status":"pending"}]]' })).json();
      const [first, second] = chatRequests(f.fake).map((r) => r.body.messages as Sent[]);
      const call = second!.find((m) => m.tool_calls)!.tool_calls![0]!.function;
      const expected =
        fakePromptTokens(first!) + Math.ceil((call.name.length + call.arguments.length) / 4) + fakePromptTokens(second!) + body.message.split(/\s+/).length;
      assert.equal(body.tokens_used, expected);
    });

    test('the tools offered are the task tools, with parameters generated from the task schemas', async () => {
      await agent(alice, { message: 'hello' });
      const tools = chatRequests(f.fake)[0]!.body.tools as Array<{ type: string; function: { name: string; parameters: unknown } }>;
      assert.deepEqual(tools.map((t) => t.function.name), ['create_task', 'list_tasks', 'update_task', 'delete_task', 'search_tasks']);
      assert.ok(tools.every((t) => t.type === 'function'));
      const { $schema: _, ...createParameters } = z.toJSONSchema(createTaskInput, { io: 'input' });
      assert.deepEqual(tools[0]!.function.parameters, createParameters);
      assert.deepEqual((tools[2]!.function.parameters as { required: string[] }).required, ['id']);
    });

    test("another user's agent can neither see nor change the caller's tasks", async () => {
      const task = (await f.t.request({ method: 'POST', url: '/tasks', key: alice, json: { title: 'private plan' } })).json();
      const listed = (await agent(bob, { message: '[[tool:list_tasks {"status":"all"}]]' })).json();
      assert.deepEqual(listed.tool_calls[0].result, { tasks: [], has_more: false });

      for (const message of [
        `[[tool:update_task {"id":"${task.id}","status":"completed"}]]`,
        `[[tool:delete_task {"id":"${task.id}"}]]`,
      ]) {
        const res = await agent(bob, { message });
        assert.equal(res.statusCode, 200);
        assert.deepEqual(res.json().tool_calls[0].result, { error: 'Task not found', code: 'not_found' });
      }
      const unchanged = (await f.t.request({ method: 'GET', url: `/tasks/${task.id}`, key: alice })).json();
      assert.deepEqual(unchanged, task);
    });

    test('update_task completes a task and delete_task removes it, for the caller', async () => {
      const task = (await f.t.request({ method: 'POST', url: '/tasks', key: alice, json: { title: 'file taxes' } })).json();
      const updated = (await agent(alice, { message: `[[tool:update_task {"id":"${task.id}","status":"completed"}]]` })).json();
      assert.equal(updated.tool_calls[0].result.status, 'completed');
      assert.equal((await f.t.request({ method: 'GET', url: `/tasks/${task.id}`, key: alice })).json().status, 'completed');
      const deleted = (await agent(alice, { message: `[[tool:delete_task {"id":"${task.id}"}]]` })).json();
      assert.deepEqual(deleted.tool_calls[0].result, { deleted: true, id: task.id });
      assert.equal((await f.t.request({ method: 'GET', url: `/tasks/${task.id}`, key: alice })).statusCode, 404);
    });

    test('bad calls are answered to the model as tool errors and the request still answers 200', async () => {
      const before = (await tasksOf(alice)).length;
      const cases: Array<[string, string, unknown, RegExp]> = [
        ['invalid JSON', '[[tool:create_task {"title": oops]]', '{"title": oops', /not valid JSON/],
        ['schema failure', '[[tool:create_task {"priority":"urgent"}]]', { priority: 'urgent' }, /title.*priority|priority.*title/],
        ['update without changes', '[[tool:update_task {"id":"x"}]]', { id: 'x' }, /at least one of/],
        ['unknown tool', '[[tool:launch_rockets {"count":3}]]', { count: 3 }, /Unknown tool "launch_rockets"/],
        ['tool that throws', '[[tool:delete_task {"id":"no-such-task"}]]', { id: 'no-such-task' }, /Task not found/],
      ];
      for (const [what, message, args, error] of cases) {
        f.fake.reset();
        const res = await agent(alice, { message });
        assert.equal(res.statusCode, 200, what);
        const body = res.json();
        assert.equal(body.tool_calls.length, 1, what);
        assert.deepEqual(body.tool_calls[0].arguments, args, what);
        assert.match(body.tool_calls[0].result.error, error, what);
        // The model read the same error as the tool's answer.
        const answer = (chatRequests(f.fake)[1]!.body.messages as Sent[]).at(-1)!;
        assert.equal(answer.role, 'tool', what);
        assert.deepEqual(JSON.parse(answer.content!), body.tool_calls[0].result, what);
      }
      assert.equal((await tasksOf(alice)).length, before, 'nothing was created');
    });

    test('two tool calls in one turn both run and each answer carries its tool_call_id, in call order', async () => {
      const body = (await agent(alice, { message: '[[tool:create_task {"title":"first"}]] [[tool:create_task {"title":"second"}]]' })).json();
      assert.equal(body.iterations, 2);
      assert.deepEqual(body.tool_calls.map((c: any) => c.result.title), ['first', 'second']);
      const titles = (await tasksOf(alice)).map((t) => t.title);
      assert.ok(titles.includes('first') && titles.includes('second'));

      const sent = chatRequests(f.fake)[1]!.body.messages as Sent[];
      const [assistant, ...answers] = sent.slice(-3);
      assert.equal(assistant!.role, 'assistant');
      const ids = assistant!.tool_calls!.map((c) => c.id);
      assert.equal(ids.length, 2);
      assert.deepEqual(answers.map((a) => [a.role, a.tool_call_id, JSON.parse(a.content!).title]), [
        ['tool', ids[0], 'first'],
        ['tool', ids[1], 'second'],
      ]);
    });

    test('the iteration cap stops a model that never stops calling tools, with 200 and what was done', async () => {
      const res = await agent(alice, { message: '[[always-tool:list_tasks {}]]' });
      assert.equal(res.statusCode, 200);
      const body = res.json();
      assert.equal(body.iterations, 3);
      assert.equal(f.fake.counters.chat, 3);
      assert.equal(body.tool_calls.length, 3);
      assert.ok(body.tool_calls.every((c: any) => c.name === 'list_tasks' && Array.isArray(c.result.tasks)));
      assert.match(body.message, /AGENT_MAX_ITERATIONS/);
      const stored = await messagesOf(alice, body.conversation_id);
      assert.deepEqual(stored.map((m) => m.role), ['user', 'assistant', 'tool', 'assistant', 'tool', 'assistant', 'tool', 'assistant']);
      assert.equal(stored.at(-1).content, body.message, 'the limit note ends the stored turn, so the history stays valid');

      f.fake.reset();
      const next = await agent(alice, { message: 'and now?', conversation_id: body.conversation_id });
      assert.equal(next.statusCode, 200, 'the fake accepted the replayed history');
    });

    test('continuing an agent conversation with /chat and /agent replays a history the API accepts', async () => {
      const first = (await agent(alice, { message: '[[tool:create_task {"title":"replay me"}]]' })).json();
      const id = first.conversation_id;
      const ids = (await messagesOf(alice, id)).find((m) => m.tool_calls).tool_calls.map((c: any) => c.id);

      f.fake.reset();
      const viaChat = await f.t.request({ method: 'POST', url: '/chat', key: alice, json: { message: 'thanks', conversation_id: id } });
      assert.equal(viaChat.statusCode, 200);
      assert.deepEqual(shape(chatRequests(f.fake)[0]!.body.messages), [
        ['system', 'You are a helpful assistant.'],
        ['user', '[[tool:create_task {"title":"replay me"}]]'],
        ['assistant', ids],
        ['tool', ids[0]],
        ['assistant', first.message],
        ['user', 'thanks'],
      ]);

      f.fake.reset();
      const viaAgent = await agent(alice, { message: '[[tool:list_tasks {}]]', conversation_id: id });
      assert.equal(viaAgent.statusCode, 200);
      assert.equal(viaAgent.json().conversation_id, id);
      const replayed = shape(chatRequests(f.fake)[1]!.body.messages);
      const newIds = (await messagesOf(alice, id)).filter((m) => m.tool_calls).at(-1).tool_calls.map((c: any) => c.id);
      assert.deepEqual(replayed, [
        ['system', 'You are a helpful assistant.'],
        ['user', '[[tool:create_task {"title":"replay me"}]]'],
        ['assistant', ids],
        ['tool', ids[0]],
        ['assistant', first.message],
        ['user', 'thanks'],
        ['assistant', 'You said: thanks'],
        ['user', '[[tool:list_tasks {}]]'],
        ['assistant', newIds],
        ['tool', newIds[0]],
      ]);
    });

    test('validation and ownership errors answer like /chat and never reach the model', async () => {
      for (const body of [{ message: '' }, { message: '   ' }, {}]) {
        const res = await agent(alice, body);
        assert.equal(res.statusCode, 422, JSON.stringify(body));
        assert.match(res.json().error.message, /message/);
      }
      const mine = (await agent(alice, { message: 'hi' })).json();
      f.fake.reset();
      const res = await agent(bob, { message: 'hi', conversation_id: mine.conversation_id });
      assert.equal(res.statusCode, 404);
      assert.equal(res.json().error.code, 'not_found');
      assert.equal(f.fake.counters.chat, 0);
    });
  });
}

describe('agent history budget', () => {
  let f: ChatFixture;
  let key: string;
  before(async () => {
    f = await createChatFixture({ env: { HISTORY_MAX_TOKENS: '220', SYSTEM_PROMPT: 'Be brief.' } });
    key = (await f.t.createUser()).apiKey;
  });
  after(() => f.close());

  test('trimming a long agent conversation never splits a tool call from its answers', async () => {
    let id: string | undefined;
    for (let i = 0; i < 8; i++) {
      const message = i % 2 ? `plain turn ${i}` : `[[tool:create_task {"title":"task ${i}"}]] [[tool:list_tasks {"status":"pending"}]]`;
      for (const url of ['/agent', '/chat']) {
        const res = await f.t.request({ method: 'POST', url, key, json: { message, ...(id && { conversation_id: id }) } });
        assert.equal(res.statusCode, 200, `${url} turn ${i}: ${res.body}`);
        id = res.json().conversation_id;
      }
    }
    const sent = chatRequests(f.fake).at(-1)!.body.messages as Sent[];
    assert.ok(sent.length < 40, `history was trimmed (sent ${sent.length} messages)`);
    assert.notEqual(sent[1]!.role, 'tool', 'history never starts with an orphaned tool answer');
  });
});

describe('runToolCall', () => {
  test('a tool that fails unexpectedly answers a generic error and hides the details (empty arguments count as {})', async () => {
    const broken: Tool = {
      name: 'broken',
      description: 'always fails',
      input: z.object({}),
      run: async () => {
        throw new Error('database password is hunter2');
      },
    };
    const outcome = await runToolCall([broken], 'user-1', { id: 'call_1', name: 'broken', arguments: '' });
    assert.deepEqual(outcome, { id: 'call_1', name: 'broken', arguments: {}, result: { error: 'broken failed', code: 'internal_error' } });
  });

  test('arguments that are JSON but not an object fail the schema and are shown as received', async () => {
    const echo: Tool = { name: 'echo', description: '', input: z.object({}), run: async () => ({ ok: true }) };
    const outcome = await runToolCall([echo], 'user-1', { id: 'call_2', name: 'echo', arguments: '[1,2]' });
    assert.equal(outcome.arguments, '[1,2]');
    assert.match(String(outcome.result.error), /Invalid arguments/);
  });
});
