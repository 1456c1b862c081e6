/**
 * The Responses API's state on the one store: truncation within MODEL_CONTEXT_TOKENS, another
 * user's ids on every id-bearing route, and /chat and /v1 seeing the same conversations.
 * Real HTTP, the real app, the fake model server, SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import OpenAI from 'openai';
import { TEST_DATABASES } from './helpers/databases.js';
import { chatRequests, createChatFixture, type ChatFixture } from './helpers/fake-upstream.js';

type SentMessage = { role: string; content: unknown; tool_calls?: Array<{ id: string }>; tool_call_id?: string };

for (const database of TEST_DATABASES) {
  describe(`/v1/responses state (${database.name})`, () => {
    let f: ChatFixture;
    let base: string;
    before(async () => {
      f = await createChatFixture({ database, env: { OPENAI_MAX_RETRIES: '0', MODEL_CONTEXT_TOKENS: '400' } });
      base = await f.t.listen();
    });
    beforeEach(() => f.fake.reset());
    after(() => f.close());

    async function user() {
      const { apiKey } = await f.t.createUser();
      return { apiKey, openai: new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0 }) };
    }
    const lastMessages = () => chatRequests(f.fake).at(-1)!.body.messages as SentMessage[];
    const tools = [{ type: 'function' as const, name: 'lookup', parameters: { type: 'object', properties: {} }, strict: false }];

    /** A chain over budget: a long first message, a tool round trip, then a new message that does not fit with all of it. */
    async function longChain(openai: OpenAI) {
      const first = await openai.responses.create({ model: 'gpt-4o-mini', input: `[[tool:lookup {"q":1}]] ${'pad '.repeat(300)}`, tools });
      const call = first.output.find((o) => o.type === 'function_call');
      assert.ok(call?.type === 'function_call');
      const second = await openai.responses.create({
        model: 'gpt-4o-mini',
        previous_response_id: first.id,
        input: [{ type: 'function_call_output', call_id: call.call_id, output: 'found it' }],
        tools,
      });
      assert.equal(second.output_text, 'Done: found it');
      return { second, callId: call.call_id };
    }

    test('truncation "disabled" (the default): over MODEL_CONTEXT_TOKENS is 400 context_length_exceeded, nothing sent or stored', async () => {
      const { openai } = await user();
      const { second } = await longChain(openai);
      const calls = chatRequests(f.fake).length;
      await assert.rejects(openai.responses.create({ model: 'gpt-4o-mini', previous_response_id: second.id, input: 'filler '.repeat(60), tools }), (e: unknown) => {
        assert.ok(e instanceof OpenAI.BadRequestError, String(e));
        assert.equal(e.code, 'context_length_exceeded');
        assert.equal(e.param, 'input');
        assert.equal(e.type, 'invalid_request_error');
        return true;
      });
      assert.equal(chatRequests(f.fake).length, calls);
    });

    test('truncation "auto" drops the oldest items; a function call stays with its output', async () => {
      const { openai } = await user();
      const { second, callId } = await longChain(openai);
      const third = await openai.responses.create({ model: 'gpt-4o-mini', previous_response_id: second.id, input: 'filler '.repeat(60), tools, truncation: 'auto' });
      assert.equal(third.status, 'completed');
      assert.equal(third.truncation, 'auto');
      const sent = lastMessages();
      assert.deepEqual(
        sent.map((m) => m.role),
        ['assistant', 'tool', 'assistant', 'user'],
        'the long first message is dropped, the call and its output kept together',
      );
      assert.equal(sent[0]!.tool_calls?.[0]?.id, callId);
      assert.equal(sent[1]!.tool_call_id, callId);
      // Not even the newest item fits: refused either way.
      await assert.rejects(
        openai.responses.create({ model: 'gpt-4o-mini', input: 'word '.repeat(500), truncation: 'auto' }),
        (e: unknown) => e instanceof OpenAI.BadRequestError && e.code === 'context_length_exceeded',
      );
    });

    test("another user's ids answer exactly as unknown ids on every id-bearing route", async () => {
      const a = await user();
      const conversation = await a.openai.conversations.create({ items: [{ type: 'message', role: 'user', content: 'mine' }] });
      const response = await a.openai.responses.create({ model: 'gpt-4o-mini', input: 'private', conversation: conversation.id });
      const itemId = response.output[0]!.id!;
      const loose = await a.openai.responses.create({ model: 'gpt-4o-mini', input: 'loose' });
      const looseItem = loose.output[0]!.id!;
      const b = await user();
      const own = await b.openai.conversations.create();
      const unknownResponse = 'resp_0123456789abcdef0123456789abcdef';
      const unknownConversation = '01234567-89ab-7def-8123-456789abcdef';
      const unknownItem = 'msg_0123456789abcdef0123456789abcdef';

      const call = async (method: string, url: string, json?: unknown) => {
        const res = await f.t.request({ method: method as 'GET', url, key: b.apiKey, ...(json !== undefined && { json }) });
        return { status: res.statusCode, body: res.json() as { error: { code: string | null; param: string | null; type: string } } };
      };
      const same = async (method: string, url: (id: string) => string, theirs: string, unknown: string, json?: (id: string) => unknown) => {
        const foreign = await call(method, url(theirs), json?.(theirs));
        const missing = await call(method, url(unknown), json?.(unknown));
        assert.ok(foreign.status === 404 || foreign.status === 400, `${method} ${url(theirs)}: ${foreign.status}`);
        assert.equal(foreign.status, missing.status, `${method} ${url('{id}')}`);
        assert.deepEqual({ ...foreign.body.error, message: undefined }, { ...missing.body.error, message: undefined }, `${method} ${url('{id}')}`);
      };

      await same('GET', (id) => `/v1/responses/${id}`, response.id, unknownResponse);
      await same('DELETE', (id) => `/v1/responses/${id}`, response.id, unknownResponse);
      await same('GET', (id) => `/v1/responses/${id}/input_items`, response.id, unknownResponse);
      await same('POST', () => '/v1/responses', response.id, unknownResponse, (id) => ({ model: 'm', input: 'x', previous_response_id: id }));
      await same('POST', () => '/v1/responses', conversation.id, unknownConversation, (id) => ({ model: 'm', input: 'x', conversation: id }));
      await same('POST', () => '/v1/responses', itemId, unknownItem, (id) => ({ model: 'm', input: [{ type: 'item_reference', id }] }));
      await same('POST', () => '/v1/responses', looseItem, unknownItem, (id) => ({ model: 'm', input: [{ type: 'item_reference', id }] }));
      await same('GET', (id) => `/v1/conversations/${id}`, conversation.id, unknownConversation);
      await same('POST', (id) => `/v1/conversations/${id}`, conversation.id, unknownConversation, () => ({ metadata: { x: 'y' } }));
      await same('DELETE', (id) => `/v1/conversations/${id}`, conversation.id, unknownConversation);
      await same('GET', (id) => `/v1/conversations/${id}/items`, conversation.id, unknownConversation);
      await same('POST', (id) => `/v1/conversations/${id}/items`, conversation.id, unknownConversation, () => ({ items: [{ role: 'user', content: 'x' }] }));
      await same('GET', (id) => `/v1/conversations/${id}/items/${itemId}`, conversation.id, unknownConversation);
      await same('DELETE', (id) => `/v1/conversations/${id}/items/${itemId}`, conversation.id, unknownConversation);
      // Their item id in our own conversation, and as the cursor of our list.
      await same('GET', (id) => `/v1/conversations/${own.id}/items/${id}`, itemId, unknownItem);
      await same('DELETE', (id) => `/v1/conversations/${own.id}/items/${id}`, itemId, unknownItem);
      await same('GET', (id) => `/v1/conversations/${own.id}/items?after=${id}`, itemId, unknownItem);
      await same('POST', () => `/v1/conversations/${own.id}/items`, itemId, unknownItem, (id) => ({ items: [{ type: 'item_reference', id }] }));

      // Nothing of A's was touched.
      assert.equal((await a.openai.responses.retrieve(response.id)).output_text, 'You said: private');
      assert.equal((await a.openai.conversations.items.list(conversation.id)).data.length, 3);
      assert.deepEqual(chatRequests(f.fake).map((r) => (r.body.messages as SentMessage[]).at(-1)!.content), ['private', 'loose']);
    });

    test('/conversations/{id}/messages shows a /v1/responses turn, tool calls included, and /chat continues it', async () => {
      const { apiKey, openai } = await user();
      const conversation = await openai.conversations.create();
      const first = await openai.responses.create({ model: 'gpt-4o-mini', conversation: conversation.id, input: 'check [[tool:lookup {"q":2}]]', tools });
      const call = first.output.find((o) => o.type === 'function_call');
      assert.ok(call?.type === 'function_call');
      await openai.responses.create({ model: 'gpt-4o-mini', conversation: conversation.id, input: [{ type: 'function_call_output', call_id: call.call_id, output: '42' }], tools });

      const messages = await f.t.request({ method: 'GET', url: `/conversations/${conversation.id}/messages`, key: apiKey });
      assert.equal(messages.statusCode, 200);
      const rows = messages.json().data as Array<{ role: string; content: string | null; status: string }>;
      assert.deepEqual(
        rows.map((m) => [m.role, m.content]),
        [
          ['user', 'check [[tool:lookup {"q":2}]]'],
          ['assistant', null],
          ['tool', '42'],
          ['assistant', 'Done: 42'],
        ],
      );

      const chat = await f.t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: 'and now?', conversation_id: conversation.id } });
      assert.equal(chat.statusCode, 200, chat.body);
      assert.equal(chat.json().message, 'You said: and now?');
      const sent = lastMessages();
      assert.deepEqual(
        sent.slice(1).map((m) => m.role),
        ['user', 'assistant', 'tool', 'assistant', 'user'],
        '/chat sends the tool call with its answer (the fake refuses anything else)',
      );
      assert.equal(sent[2]!.tool_calls?.[0]?.id, call.call_id);
    });

    test('/v1/conversations/{id} and its items show a /chat conversation', async () => {
      const { apiKey, openai } = await user();
      const chat = await f.t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: 'made by chat' } });
      const id = chat.json().conversation_id as string;
      const conversation = await openai.conversations.retrieve(id);
      assert.equal(conversation.id, id);
      assert.deepEqual(conversation.metadata, {});
      const items = await openai.conversations.items.list(id, { order: 'asc' });
      assert.deepEqual(
        items.data.map((i) => i.type === 'message' && [i.role, i.content]),
        [
          ['user', [{ type: 'input_text', text: 'made by chat' }]],
          ['assistant', [{ type: 'output_text', text: 'You said: made by chat', annotations: [], logprobs: [] }]],
        ],
      );
      // And a response continues it with the /chat history.
      await openai.responses.create({ model: 'gpt-4o-mini', conversation: id, input: 'from v1' });
      assert.deepEqual(lastMessages().map((m) => m.content), ['made by chat', 'You said: made by chat', 'from v1']);
      const after = await f.t.request({ method: 'GET', url: `/conversations/${id}/messages`, key: apiKey });
      assert.deepEqual((after.json().data as Array<{ content: string }>).map((m) => m.content), ['made by chat', 'You said: made by chat', 'from v1', 'You said: from v1']);
    });
  });
}
