/**
 * The Responses API (/v1/responses, /v1/conversations) with the official openai SDK over real
 * HTTP, against the real app and the fake model server, on SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import OpenAI from 'openai';
import { TEST_DATABASES } from './helpers/databases.js';
import { chatRequests, createChatFixture, type ChatFixture } from './helpers/fake-upstream.js';

for (const database of TEST_DATABASES) {
  describe(`/v1/responses with the openai SDK (${database.name})`, () => {
    let f: ChatFixture;
    let base: string;
    before(async () => {
      f = await createChatFixture({ database, env: { OPENAI_MAX_RETRIES: '0' } });
      base = await f.t.listen();
    });
    beforeEach(() => f.fake.reset());
    after(() => f.close());

    async function client() {
      const { apiKey } = await f.t.createUser();
      return new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0 });
    }

    /** The messages the fake received in its last chat completion call. */
    const lastMessages = () => chatRequests(f.fake).at(-1)!.body.messages as Array<{ role: string; content: unknown; tool_calls?: unknown[]; tool_call_id?: string }>;

    test('responses.create with a string input and instructions answers a Response object', async () => {
      const openai = await client();
      const response = await openai.responses.create({ model: 'gpt-4o-mini', input: 'hello there', instructions: 'Be brief.' });
      assert.match(response.id, /^resp_/);
      assert.equal(response.object, 'response');
      assert.equal(response.status, 'completed');
      assert.equal(response.model, 'gpt-4o-mini');
      assert.equal(response.output_text, 'You said: hello there');
      assert.equal(response.instructions, 'Be brief.');
      assert.equal(response.previous_response_id, null);
      const [message] = response.output;
      assert.equal(message?.type, 'message');
      assert.ok(message?.type === 'message' && message.id.startsWith('msg_') && message.role === 'assistant' && message.status === 'completed');
      assert.deepEqual(message.content, [{ type: 'output_text', text: 'You said: hello there', annotations: [], logprobs: [] }]);
      assert.equal(response.usage?.output_tokens, 4);
      assert.equal(response.usage?.total_tokens, (response.usage?.input_tokens ?? 0) + 4);
      assert.deepEqual(response.usage?.input_tokens_details, { cached_tokens: 0 });
      assert.deepEqual(response.usage?.output_tokens_details, { reasoning_tokens: 0 });
      assert.deepEqual(lastMessages(), [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hello there' },
      ]);
      const sent = chatRequests(f.fake).at(-1)!.body;
      assert.equal(sent.model, 'gpt-4o-mini');
      assert.equal(sent.temperature, undefined, 'nothing is added to what the client sends');
      assert.equal(sent.max_completion_tokens, undefined);
      assert.deepEqual(await openai.responses.retrieve(response.id), response, 'retrieve answers the same object');
    });

    test('item input: messages with text parts, a developer message, and the settings passed on', async () => {
      const openai = await client();
      const response = await openai.responses.create({
        model: 'gpt-4.1-mini',
        input: [
          { role: 'developer', content: 'Answer in French.' },
          { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'first part' }, { type: 'input_text', text: '[[reply:Bonjour]]' }] },
        ],
        temperature: 0.2,
        top_p: 0.9,
        max_output_tokens: 50,
        metadata: { topic: 'greeting' },
      });
      assert.equal(response.output_text, 'Bonjour');
      assert.equal(response.temperature, 0.2);
      assert.equal(response.max_output_tokens, 50);
      assert.deepEqual(response.metadata, { topic: 'greeting' });
      const sent = chatRequests(f.fake).at(-1)!.body;
      assert.equal(sent.temperature, 0.2);
      assert.equal(sent.top_p, 0.9);
      assert.equal(sent.max_completion_tokens, 50);
      assert.deepEqual(sent.messages, [
        { role: 'system', content: 'Answer in French.' },
        { role: 'user', content: 'first part\n[[reply:Bonjour]]' },
      ]);
      const items = await openai.responses.inputItems.list(response.id, { order: 'asc' });
      assert.deepEqual(
        items.data.map((i) => i.type === 'message' && [i.role, i.content]),
        [
          ['developer', [{ type: 'input_text', text: 'Answer in French.' }]],
          ['user', [{ type: 'input_text', text: 'first part\n[[reply:Bonjour]]' }]],
        ],
      );
    });

    test('max_output_tokens cutting the reply makes the response incomplete', async () => {
      const openai = await client();
      const response = await openai.responses.create({ model: 'gpt-4o-mini', input: '[[words:40]]', max_output_tokens: 16 });
      assert.equal(response.status, 'incomplete');
      assert.deepEqual(response.incomplete_details, { reason: 'max_output_tokens' });
      assert.equal(response.output_text.split(' ').length, 16);
    });

    test('previous_response_id chained over 3 turns sends the whole history upstream', async () => {
      const openai = await client();
      const first = await openai.responses.create({ model: 'gpt-4o-mini', input: 'one', instructions: 'Only for the first.' });
      const second = await openai.responses.create({ model: 'gpt-4o-mini', input: 'two', previous_response_id: first.id });
      const third = await openai.responses.create({ model: 'gpt-4o-mini', input: [{ role: 'user', content: 'three' }], previous_response_id: second.id });
      assert.equal(third.previous_response_id, second.id);
      assert.equal(third.output_text, 'You said: three');
      // Instructions are not carried over (OpenAI's rule); every item of the chain is.
      assert.deepEqual(lastMessages(), [
        { role: 'user', content: 'one' },
        { role: 'assistant', content: 'You said: one' },
        { role: 'user', content: 'two' },
        { role: 'assistant', content: 'You said: two' },
        { role: 'user', content: 'three' },
      ]);
      // A branch from the first turn sees only its own chain.
      await openai.responses.create({ model: 'gpt-4o-mini', input: 'branch', previous_response_id: first.id });
      assert.deepEqual(lastMessages().map((m) => m.content), ['one', 'You said: one', 'branch']);
    });

    test('an unknown or foreign previous_response_id is 400 previous_response_not_found', async () => {
      const other = await client();
      const theirs = await other.responses.create({ model: 'gpt-4o-mini', input: 'secret' });
      const openai = await client();
      for (const id of [theirs.id, 'resp_0123456789abcdef0123456789abcdef']) {
        await assert.rejects(openai.responses.create({ model: 'gpt-4o-mini', input: 'x', previous_response_id: id }), (e: unknown) => {
          assert.ok(e instanceof OpenAI.BadRequestError);
          assert.equal(e.code, 'previous_response_not_found');
          assert.equal(e.param, 'previous_response_id');
          return true;
        });
      }
      assert.equal(chatRequests(f.fake).length, 1);
    });

    test('conversations.create + responses.create({conversation}) + conversations.items.list', async () => {
      const openai = await client();
      const conversation = await openai.conversations.create({ metadata: { project: 'demo' }, items: [{ type: 'message', role: 'user', content: 'remember: blue' }] });
      assert.equal(conversation.object, 'conversation');
      assert.deepEqual(conversation.metadata, { project: 'demo' });
      const r1 = await openai.responses.create({ model: 'gpt-4o-mini', input: 'what colour?', conversation: conversation.id });
      assert.deepEqual(r1.conversation, { id: conversation.id });
      assert.deepEqual(lastMessages().map((m) => m.content), ['remember: blue', 'what colour?']);
      const r2 = await openai.responses.create({ model: 'gpt-4o-mini', input: 'and again?', conversation: { id: conversation.id } });
      assert.deepEqual(lastMessages().map((m) => m.content), ['remember: blue', 'what colour?', 'You said: what colour?', 'and again?']);

      const items = await openai.conversations.items.list(conversation.id, { order: 'asc' });
      assert.deepEqual(
        items.data.map((i) => (i.type === 'message' ? [i.role, (i.content[0] as { text: string }).text] : i.type)),
        [
          ['user', 'remember: blue'],
          ['user', 'what colour?'],
          ['assistant', 'You said: what colour?'],
          ['user', 'and again?'],
          ['assistant', 'You said: and again?'],
        ],
      );
      assert.equal(items.data[2]!.id, r1.output[0]!.id, 'an output item is the conversation item');
      assert.equal(items.data[4]!.id, r2.output[0]!.id);
      // Newest first by default, paged with after/limit.
      const page1 = await openai.conversations.items.list(conversation.id, { limit: 2 });
      assert.deepEqual(page1.data.map((i) => i.id), [items.data[4]!.id, items.data[3]!.id]);
      assert.equal(page1.has_more, true);
      const page2 = await openai.conversations.items.list(conversation.id, { limit: 2, after: page1.data[1]!.id });
      assert.deepEqual(page2.data.map((i) => i.id), [items.data[2]!.id, items.data[1]!.id]);
      const all: string[] = [];
      for await (const item of openai.conversations.items.list(conversation.id, { limit: 2, order: 'asc' })) all.push(item.id!);
      assert.deepEqual(all, items.data.map((i) => i.id), 'the SDK pages through everything');

      const one = await openai.conversations.items.retrieve(items.data[0]!.id!, { conversation_id: conversation.id });
      assert.equal(one.id, items.data[0]!.id);
      const updated = await openai.conversations.update(conversation.id, { metadata: { project: 'renamed' } });
      assert.deepEqual(updated.metadata, { project: 'renamed' });
      assert.deepEqual((await openai.conversations.retrieve(conversation.id)).metadata, { project: 'renamed' });

      const added = await openai.conversations.items.create(conversation.id, { items: [{ type: 'message', role: 'user', content: 'extra' }] });
      assert.equal(added.data.length, 1);
      const afterDelete = await openai.conversations.items.delete(added.data[0]!.id!, { conversation_id: conversation.id });
      assert.equal(afterDelete.id, conversation.id);
      await assert.rejects(openai.conversations.items.retrieve(added.data[0]!.id!, { conversation_id: conversation.id }), OpenAI.NotFoundError);

      const deleted = await openai.conversations.delete(conversation.id);
      assert.deepEqual(deleted, { id: conversation.id, object: 'conversation.deleted', deleted: true });
      await assert.rejects(openai.conversations.retrieve(conversation.id), OpenAI.NotFoundError);
    });

    test('a bad conversation item is 400 naming its field', async () => {
      const openai = await client();
      const named = (param: string) => (e: unknown) => {
        assert.ok(e instanceof OpenAI.BadRequestError, String(e));
        assert.equal(e.type, 'invalid_request_error');
        assert.equal(e.param, param);
        return true;
      };
      await assert.rejects(openai.conversations.create({ items: [{ role: 'robot', content: 'x' } as never] }), named('items[0].role'));
      const conversation = await openai.conversations.create({});
      await assert.rejects(
        openai.conversations.items.create(conversation.id, { items: [{ type: 'message', role: 'user', content: 'ok' }, { type: 'function_call_output', call_id: 'x' } as never] }),
        named('items[1].output'),
      );
      assert.equal((await openai.conversations.items.list(conversation.id)).data.length, 0);
    });

    test('responses.stream: typed events in order with increasing sequence numbers, and the final response', async () => {
      const openai = await client();
      const stream = openai.responses.stream({ model: 'gpt-4o-mini', input: 'stream me please' });
      const events: Array<{ type: string; sequence_number: number }> = [];
      let deltas = '';
      stream.on('response.output_text.delta', (e) => {
        deltas += e.delta;
      });
      for await (const event of stream) events.push(event);
      const final = await stream.finalResponse();
      assert.deepEqual(
        events.map((e) => e.sequence_number),
        events.map((_, i) => i),
      );
      const types = events.map((e) => e.type);
      assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
      assert.ok(types.filter((t) => t === 'response.output_text.delta').length > 1);
      assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
      assert.equal(deltas, 'You said: stream me please');
      assert.equal(final.output_text, 'You said: stream me please');
      assert.equal(final.status, 'completed');
      const stored = await openai.responses.retrieve(final.id);
      assert.equal(stored.status, 'completed');
      assert.equal(stored.output[0]!.id, final.output[0]!.id);
      assert.equal(chatRequests(f.fake).at(-1)!.body.stream, true);
    });

    test('a function tool round trip: function_call out, function_call_output in, the final text', async () => {
      const openai = await client();
      const tools = [
        {
          type: 'function' as const,
          name: 'get_weather',
          description: 'Weather of a city',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          strict: false,
        },
      ];
      const first = await openai.responses.create({ model: 'gpt-4o-mini', input: 'weather? [[tool:get_weather {"city":"Paris"}]]', tools, tool_choice: 'auto' });
      const call = first.output.find((o) => o.type === 'function_call');
      assert.ok(call && call.type === 'function_call');
      assert.match(call.id!, /^fc_/);
      assert.equal(call.name, 'get_weather');
      assert.equal(call.arguments, '{"city":"Paris"}');
      assert.equal(first.output_text, '');
      const sent = chatRequests(f.fake).at(-1)!.body;
      assert.deepEqual(sent.tools, [{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: tools[0]!.parameters, strict: false } }]);
      assert.equal(sent.tool_choice, 'auto');

      const second = await openai.responses.create({
        model: 'gpt-4o-mini',
        previous_response_id: first.id,
        input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"temperature_c":21}' }],
        tools,
      });
      assert.equal(second.output_text, 'Done: {"temperature_c":21}');
      const messages = lastMessages();
      assert.deepEqual(messages.slice(-2), [
        { role: 'assistant', content: null, tool_calls: [{ id: call.call_id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: call.call_id, content: '{"temperature_c":21}' },
      ]);
    });

    test('parallel function calls share one assistant message upstream, streamed as items', async () => {
      const openai = await client();
      const tools = [{ type: 'function' as const, name: 'f', parameters: {}, strict: false }];
      const stream = openai.responses.stream({ model: 'gpt-4o-mini', input: '[[tool:f {"a":1}]] [[tool:f {"a":2}]]', tools });
      const types: string[] = [];
      const added: number[] = [];
      for await (const event of stream) {
        types.push(event.type);
        if (event.type === 'response.output_item.added') added.push(event.output_index);
      }
      const final = await stream.finalResponse();
      assert.deepEqual(added, [0, 1], 'each call its own output index');
      const calls = final.output.filter((o) => o.type === 'function_call');
      assert.equal(calls.length, 2);
      assert.notEqual(calls[0]!.id, calls[1]!.id);
      assert.equal(types.filter((t) => t === 'response.function_call_arguments.done').length, 2);
      const outputs = calls.map((c) => ({ type: 'function_call_output' as const, call_id: c.type === 'function_call' ? c.call_id : '', output: c.type === 'function_call' ? c.arguments : '' }));
      const next = await openai.responses.create({ model: 'gpt-4o-mini', previous_response_id: final.id, input: outputs, tools });
      assert.equal(next.output_text, 'Done: {"a":1}; {"a":2}');
    });

    test('responses.stream with tools: text, then each call added as it starts and its arguments streamed fragment by fragment', async () => {
      const openai = await client();
      const tools = [
        { type: 'function' as const, name: 'get_weather', parameters: {}, strict: false },
        { type: 'function' as const, name: 'get_time', parameters: {}, strict: false },
      ];
      const args = ['{"city":"Paris","unit":"celsius"}', '{"tz":"Europe/Paris"}'];
      const stream = openai.responses.stream({
        model: 'gpt-4o-mini',
        input: `[[reply:Let me check.]] [[tool:get_weather ${args[0]}]] [[tool:get_time ${args[1]}]]`,
        tools,
      });
      const events: Array<Record<string, unknown> & { type: string; sequence_number: number }> = [];
      for await (const event of stream) events.push(event as never);
      const final = await stream.finalResponse();
      assert.deepEqual(
        events.map((e) => e.sequence_number),
        events.map((_, i) => i),
        'sequence numbers strictly increasing from 0',
      );
      const at = (type: string, index: number) => events.findIndex((e) => e.type === type && e.output_index === index);
      // The message (index 0) is done before the first call (index 1) is added; each call's events in order.
      assert.ok(at('response.output_text.delta', 0) > at('response.output_item.added', 0));
      assert.ok(at('response.output_item.done', 0) < at('response.output_item.added', 1));
      for (const [i, name] of ['get_weather', 'get_time'].entries()) {
        const index = i + 1;
        const added = events[at('response.output_item.added', index)]!;
        assert.deepEqual({ ...(added.item as object), id: undefined, call_id: undefined }, { type: 'function_call', id: undefined, call_id: undefined, name, arguments: '', status: 'in_progress' });
        const deltas = events.filter((e) => e.type === 'response.function_call_arguments.delta' && e.output_index === index);
        assert.ok(deltas.length > 1, `several argument deltas for ${name}: ${deltas.length}`);
        assert.ok(deltas.every((d) => d.item_id === (added.item as { id: string }).id));
        const done = events[at('response.function_call_arguments.done', index)]!;
        assert.ok(events.indexOf(deltas.at(-1)!) < events.indexOf(done) && events.indexOf(deltas[0]!) > events.indexOf(added));
        assert.equal(deltas.map((d) => d.delta).join(''), args[i]);
        assert.equal(done.arguments, args[i]);
        assert.ok(at('response.output_item.done', index) > events.indexOf(done));
        if (index === 1) assert.ok(at('response.output_item.done', 1) < at('response.output_item.added', 2));
      }
      assert.equal(events.at(-1)!.type, 'response.completed');
      assert.deepEqual(final.output.map((o) => o.type), ['message', 'function_call', 'function_call']);
      assert.equal(final.output_text, 'Let me check.');
      assert.deepEqual(final.output.slice(1).map((o) => (o.type === 'function_call' ? o.arguments : '')), args);
      const stored = await openai.responses.retrieve(final.id);
      assert.deepEqual(stored.output.map((o) => o.id), final.output.map((o) => o.id));
      assert.deepEqual(
        events.filter((e) => e.type === 'response.output_item.done').map((e) => (e.item as { id: string }).id),
        stored.output.map((o) => o.id),
      );
    });

    test('responses.delete removes it: retrieve and input_items are 404 after', async () => {
      const openai = await client();
      const response = await openai.responses.create({ model: 'gpt-4o-mini', input: 'to delete' });
      const raw = await fetch(`${base}/v1/responses/${response.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${openai.apiKey}` } });
      assert.deepEqual(await raw.json(), { id: response.id, object: 'response.deleted', deleted: true });
      await assert.rejects(openai.responses.retrieve(response.id), OpenAI.NotFoundError);
      await assert.rejects(openai.responses.delete(response.id), OpenAI.NotFoundError);
      const again = await openai.responses.create({ model: 'gpt-4o-mini', input: 'x' });
      await openai.responses.delete(again.id);
      await assert.rejects(openai.responses.inputItems.list(again.id), OpenAI.NotFoundError);
    });

    test('store: false keeps nothing: the response is not retrievable and cannot be continued', async () => {
      const openai = await client();
      const response = await openai.responses.create({ model: 'gpt-4o-mini', input: 'ephemeral', store: false });
      assert.equal(response.output_text, 'You said: ephemeral');
      assert.equal((response as { store?: boolean }).store, false);
      await assert.rejects(openai.responses.retrieve(response.id), OpenAI.NotFoundError);
      await assert.rejects(openai.responses.create({ model: 'gpt-4o-mini', input: 'x', previous_response_id: response.id }), OpenAI.BadRequestError);
    });

    test('bad input is 400 naming the field', async () => {
      const openai = await client();
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ input: 'x' }, 'model'],
        [{ model: 'm', input: 'x', temperature: 7 }, 'temperature'],
        [{ model: 'm', input: [{ role: 'user', content: 'ok' }, { role: 'wizard', content: 'x' }] }, 'input[1].role'],
        // The union branch the item's type selects (a message when it has none) names the field.
        [{ model: 'm', input: [{ type: 'function_call_output', call_id: 'x' }] }, 'input[0].output'],
        [{ model: 'm', input: [{ role: 'robot', content: 'x' }] }, 'input[0].role'],
        [{ model: 'm', input: [{ type: 'function_call', call_id: 'c', name: 'f' }] }, 'input[0].arguments'],
        [{ model: 'm', input: [{ type: 'message', role: 'user', content: [{ type: 'input_image', image_url: 'x' }] }] }, 'input[0].content[0].type'],
        [{ model: 'm', input: [{ type: 'message', role: 'user', content: 7 }] }, 'input[0].content'],
        [{ model: 'm', input: [{ type: 'bogus' }] }, 'input[0].type'],
        [{ model: 'm', input: 'x', conversation: {} }, 'conversation.id'],
        [{ model: 'm', input: 'x', tools: [{ type: 'function' }] }, 'tools[0].name'],
        [{ model: 'm', input: 'x', tools: [{ type: 'web_search' }] }, 'tools[0].type'],
        [{ model: 'm', input: 'x', truncation: 'sometimes' }, 'truncation'],
        [{ model: 'm', input: [{ type: 'item_reference', id: 'msg_0123456789abcdef0123456789abcdef' }] }, 'input[0].id'],
      ];
      for (const [body, param] of cases) {
        await assert.rejects(openai.responses.create(body as never), (e: unknown) => {
          assert.ok(e instanceof OpenAI.BadRequestError, `${JSON.stringify(body)}: ${e}`);
          assert.equal(e.param, param, JSON.stringify(body));
          return true;
        });
      }
      await assert.rejects(
        openai.responses.create({ model: 'm', input: 'x', conversation: 'c', previous_response_id: 'resp_x' }),
        (e: unknown) => e instanceof OpenAI.BadRequestError,
      );
      assert.equal(chatRequests(f.fake).length, 0);
    });

    test('an upstream failure is an OpenAI error and the stored response is failed', async () => {
      const openai = await client();
      await assert.rejects(openai.responses.create({ model: 'gpt-4o-mini', input: '[[error:500]]' }), (e: unknown) => e instanceof OpenAI.APIError && (e.status ?? 0) >= 500);
    });

    test('a request the upstream refuses (its 4xx, relayed) leaves nothing stored: the conversation gains none of its input', async () => {
      const openai = await client();
      const conversation = await openai.conversations.create({});
      await openai.responses.create({ model: 'gpt-4o-mini', conversation: conversation.id, input: 'kept' });
      const refused = (e: unknown) => {
        assert.ok(e instanceof OpenAI.BadRequestError, String(e));
        assert.equal(e.type, 'invalid_request_error');
        return true;
      };
      await assert.rejects(openai.responses.create({ model: 'gpt-4o-mini', conversation: conversation.id, input: '[[error:400]] refused' }), refused);
      await assert.rejects(openai.responses.create({ model: 'gpt-4o-mini', conversation: conversation.id, input: '[[error:400]] refused streamed', stream: true }), refused);
      await assert.rejects(
        openai.responses.create({ model: 'gpt-4o-mini', conversation: conversation.id, input: [{ role: 'user', content: 'two items' }, { role: 'user', content: '[[error:422]] refused' }] }),
        (e: unknown) => e instanceof OpenAI.UnprocessableEntityError,
      );
      const texts = async () => (await openai.conversations.items.list(conversation.id, { order: 'asc' })).data.map((i) => (i.type === 'message' ? (i.content[0] as { text: string }).text : i.type));
      assert.deepEqual(await texts(), ['kept', 'You said: kept']);
      const messages = (await f.t.request({ method: 'GET', url: `/conversations/${conversation.id}/messages`, headers: { authorization: `Bearer ${openai.apiKey}` } })).json() as { data: unknown[] };
      assert.equal(messages.data.length, 2, '/chat\'s view of the same rows');
      // The conversation goes on from what was kept.
      await openai.responses.create({ model: 'gpt-4o-mini', conversation: conversation.id, input: 'next' });
      assert.deepEqual(lastMessages().map((m) => m.content), ['kept', 'You said: kept', 'next']);
      // Our own failure (the upstream's 5xx) keeps the response, failed, and its input, as /chat keeps the user message.
      await assert.rejects(openai.responses.create({ model: 'gpt-4o-mini', conversation: conversation.id, input: '[[error:503]] ours' }), (e: unknown) => e instanceof OpenAI.APIError && (e.status ?? 0) >= 500);
      assert.equal((await texts()).at(-1), '[[error:503]] ours');
    });
  });
}
