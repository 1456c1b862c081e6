/**
 * End-to-end tests of the OpenAI-compatible gateway (`/v1`) with the official `openai` SDK — a client
 * nobody here wrote — over real HTTP against the real app, with the fake model server as the upstream.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import OpenAI, {
  APIError,
  AuthenticationError,
  BadRequestError,
  InternalServerError,
  NotFoundError,
  RateLimitError,
} from 'openai';
import type { ChatCompletionChunk, ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { MODEL_IDS } from '../src/fake-openai/models.js';
import { chatRequests, createChatFixture, type ChatFixture } from './helpers/fake-upstream.js';

const MODEL = 'gpt-4o-mini';
const hello = [{ role: 'user' as const, content: 'hello' }];

/** Awaits `promise`, which must reject with an instance of `Class`; returns the error. */
async function rejectsWith<E extends Error>(promise: Promise<unknown>, Class: abstract new (...args: any[]) => E): Promise<E> {
  let outcome: unknown;
  try {
    outcome = await promise;
  } catch (err) {
    assert.ok(err instanceof Class, `expected ${Class.name}, got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
    return err;
  }
  assert.fail(`expected ${Class.name}, but the call succeeded with ${JSON.stringify(outcome)?.slice(0, 300)}`);
}

/** The error body is OpenAI's `{error: {message, type, param, code}}` and the response has an x-request-id. */
function assertOpenAIError(err: APIError): Record<string, unknown> {
  const requestId = err.headers?.get('x-request-id');
  assert.ok(requestId, 'the error response has an x-request-id header');
  assert.equal(err.requestID, requestId);
  const e = err.error as Record<string, unknown> | undefined;
  assert.ok(e && typeof e === 'object', `an "error" object in the body: ${err.message}`);
  assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type'], JSON.stringify(e));
  assert.equal(typeof e.message, 'string');
  assert.ok((e.message as string).length > 0);
  assert.equal(typeof e.type, 'string');
  assert.ok(e.param === null || typeof e.param === 'string', `param: ${JSON.stringify(e.param)}`);
  assert.ok(e.code === null || typeof e.code === 'string', `code: ${JSON.stringify(e.code)}`);
  return e;
}

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of stream) items.push(item);
  return items;
}

const contentOf = (chunks: ChatCompletionChunk[]) => chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');

describe('/v1 with the openai SDK', () => {
  let f: ChatFixture;
  let base: string;
  before(async () => {
    f = await createChatFixture({ env: { OPENAI_MAX_RETRIES: '2' } });
    base = await f.t.listen();
  });
  beforeEach(() => f.fake.reset());
  after(() => f.close());

  /** A client with a fresh user's API key. */
  async function client(options: { maxRetries?: number } = {}) {
    const { apiKey } = await f.t.createUser();
    return { openai: new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: options.maxRetries ?? 0 }), apiKey };
  }

  describe('models', () => {
    test('models.list() returns the upstream models', async () => {
      const { openai } = await client();
      const models = await collect(openai.models.list());
      assert.deepEqual(
        models.map((m) => m.id),
        [...MODEL_IDS],
      );
      for (const m of models) {
        assert.equal(m.object, 'model');
        assert.equal(typeof m.created, 'number');
        assert.equal(m.owned_by, 'fake');
      }
      assert.equal(f.fake.counters.models, 1);
    });

    test("models.retrieve('gpt-4o-mini') returns the model", async () => {
      const { openai } = await client();
      const model = await openai.models.retrieve('gpt-4o-mini');
      assert.equal(model.id, 'gpt-4o-mini');
      assert.equal(model.object, 'model');
      assert.equal(model.owned_by, 'fake');
    });

    test('retrieving an unknown model raises NotFoundError (404, model_not_found)', async () => {
      const { openai } = await client();
      const err = await rejectsWith(openai.models.retrieve('no-such-model'), NotFoundError);
      assert.equal(err.status, 404);
      assertOpenAIError(err);
      assert.equal(err.code, 'model_not_found');
    });
  });

  describe('chat completions', () => {
    test("a plain completion is the upstream's reply, relayed; nothing is stored", async () => {
      const { openai, apiKey } = await client();
      const { data: completion, response } = await openai.chat.completions.create({ model: MODEL, messages: hello }).withResponse();
      assert.equal(response.status, 200);
      assert.ok(response.headers.get('x-request-id'), 'x-request-id on success too');
      assert.equal(completion.object, 'chat.completion');
      assert.match(completion.id, /^chatcmpl-/);
      assert.equal(completion.model, MODEL);
      assert.equal(completion.choices.length, 1);
      assert.equal(completion.choices[0]!.message.role, 'assistant');
      assert.equal(completion.choices[0]!.message.content, 'You said: hello');
      assert.equal(completion.choices[0]!.finish_reason, 'stop');
      assert.deepEqual(
        {
          prompt_tokens: completion.usage?.prompt_tokens,
          completion_tokens: completion.usage?.completion_tokens,
          total_tokens: completion.usage?.total_tokens,
        },
        { prompt_tokens: 6, completion_tokens: 3, total_tokens: 9 },
      );
      // The upstream got the provider's key, never the caller's, and exactly the client's body.
      const [upstream] = chatRequests(f.fake);
      assert.equal(chatRequests(f.fake).length, 1);
      assert.equal(upstream!.headers.authorization, 'Bearer sk-test-key');
      assert.ok(!JSON.stringify(upstream!.headers).includes(apiKey), "the caller's key is not sent upstream");
      assert.deepEqual(upstream!.body, { model: MODEL, messages: hello });
      // Nothing of a /v1 call is stored.
      const conversations = await f.t.request({ method: 'GET', url: '/conversations', key: apiKey });
      assert.equal(conversations.statusCode, 200);
      assert.deepEqual(conversations.json().data, []);
    });

    test('stream: true without stream_options relays the reply and strips the usage chunk it asked for', async () => {
      const { openai } = await client();
      const stream = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'stream this please' }], stream: true });
      const chunks = await collect(stream);
      assert.ok(chunks.length > 3, `relayed chunk by chunk (${chunks.length} chunks)`);
      for (const c of chunks) assert.equal(c.object, 'chat.completion.chunk');
      assert.equal(contentOf(chunks), 'You said: stream this please');
      assert.equal(chunks.at(-1)!.choices[0]?.finish_reason, 'stop');
      for (const c of chunks) {
        assert.ok(c.usage == null, `no chunk carries usage: ${JSON.stringify(c)}`);
        assert.ok(c.choices.length > 0, `no empty-choices (usage) chunk: ${JSON.stringify(c)}`);
      }
      const [upstream] = chatRequests(f.fake);
      assert.equal(upstream!.body.stream, true);
      assert.equal(upstream!.body.stream_options?.include_usage, true, 'the gateway asks the upstream for usage');
      assert.equal(f.fake.counters.completedStreams, 1);
    });

    test('stream: true with stream_options.include_usage: the last chunk carries usage', async () => {
      const { openai } = await client();
      const stream = await openai.chat.completions.create({
        model: MODEL,
        messages: hello,
        stream: true,
        stream_options: { include_usage: true },
      });
      const chunks = await collect(stream);
      assert.equal(contentOf(chunks), 'You said: hello');
      const last = chunks.at(-1)!;
      assert.deepEqual(last.choices, []);
      assert.equal(last.usage?.prompt_tokens, 6);
      assert.equal(last.usage?.completion_tokens, 3);
      assert.equal(last.usage?.total_tokens, 9);
      assert.equal(chunks.filter((c) => c.usage != null).length, 1, 'exactly one usage chunk');
      assert.deepEqual(chatRequests(f.fake)[0]!.body.stream_options, { include_usage: true });
    });

    test('tools: a tool_calls message, every request field reaches the upstream untouched, and the tool result turn works', async () => {
      const { openai } = await client();
      const tools = [
        {
          type: 'function' as const,
          function: {
            name: 'get_weather',
            description: 'Current weather in a city',
            parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
            strict: true,
          },
        },
      ];
      const body = {
        model: MODEL,
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: '[[tool:get_weather {"city":"Paris"}]] What is the weather in Paris?' },
        ],
        tools,
        tool_choice: 'auto',
        parallel_tool_calls: false,
        response_format: { type: 'json_object' },
        seed: 42,
        n: 2,
        logprobs: true,
        top_logprobs: 2,
        temperature: 0.3,
        top_p: 0.9,
        frequency_penalty: 0.1,
        presence_penalty: 0.2,
        max_completion_tokens: 300,
        stop: ['\n\n'],
        logit_bias: { '50256': -100 },
        user: 'end-user-42',
        metadata: { purpose: 'test' },
        store: false,
        service_tier: 'auto',
        // A field OpenAI does not have (vLLM's), passed through too.
        top_k: 5,
      } as ChatCompletionCreateParamsNonStreaming;
      const sent = structuredClone(body);
      const completion = await openai.chat.completions.create(body);
      const choice = completion.choices[0]!;
      assert.equal(choice.finish_reason, 'tool_calls');
      assert.equal(choice.message.content, null);
      assert.equal(choice.message.tool_calls?.length, 1);
      const call = choice.message.tool_calls![0]!;
      assert.equal(call.type, 'function');
      assert.match(call.id, /^call_/);
      assert.ok(call.type === 'function');
      assert.equal(call.function.name, 'get_weather');
      assert.equal(call.function.arguments, '{"city":"Paris"}');
      assert.deepEqual(chatRequests(f.fake)[0]!.body, sent, 'the upstream received exactly what the client sent');

      // Second turn: the tool result goes back through the gateway.
      const second = await openai.chat.completions.create({
        model: MODEL,
        tools,
        messages: [...(sent.messages as any[]), choice.message, { role: 'tool', tool_call_id: call.id, content: '{"temp_c":21}' }],
      });
      assert.equal(second.choices[0]!.message.content, 'Done: {"temp_c":21}');
      assert.equal(chatRequests(f.fake).length, 2);
    });

    test('tools: a streamed tool call arrives as OpenAI streams it', async () => {
      const { openai } = await client();
      const stream = await openai.chat.completions.create({
        model: MODEL,
        stream: true,
        messages: [{ role: 'user', content: '[[tool:get_weather {"city":"Paris"}]]' }],
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      });
      const chunks = await collect(stream);
      const deltas = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
      assert.ok(deltas.length > 1, 'arguments arrive in fragments');
      assert.equal(deltas[0]!.function?.name, 'get_weather');
      assert.match(deltas[0]!.id ?? '', /^call_/);
      assert.equal(deltas.map((d) => d.function?.arguments ?? '').join(''), '{"city":"Paris"}');
      assert.equal(chunks.at(-1)!.choices[0]?.finish_reason, 'tool_calls');
    });
  });

  describe('embeddings', () => {
    test('float, base64 and the SDK default (base64, decoded by the SDK) give the same vectors', async () => {
      const { openai } = await client();
      const input = ['the quick brown fox', 'jumps over the lazy dog'];
      const model = 'text-embedding-3-small';
      const asFloat = await openai.embeddings.create({ model, input, encoding_format: 'float' });
      const asDefault = await openai.embeddings.create({ model, input });
      const asBase64 = await openai.embeddings.create({ model, input, encoding_format: 'base64' });

      for (const res of [asFloat, asDefault, asBase64]) {
        assert.equal(res.object, 'list');
        assert.equal(res.model, model);
        assert.equal(res.data.length, 2);
        assert.deepEqual(res.data.map((d) => d.index), [0, 1]);
        assert.ok(res.usage.prompt_tokens > 0);
      }
      const decodeBase64 = (s: unknown) => {
        assert.equal(typeof s, 'string', 'an explicit base64 request is answered with a base64 string');
        const bytes = Buffer.from(s as string, 'base64');
        return Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
      };
      for (const i of [0, 1]) {
        const float = asFloat.data[i]!.embedding;
        const byDefault = Array.from(asDefault.data[i]!.embedding);
        const base64 = decodeBase64(asBase64.data[i]!.embedding);
        assert.equal(float.length, 1536);
        assert.equal(byDefault.length, 1536);
        assert.equal(base64.length, 1536);
        for (let d = 0; d < float.length; d++) {
          assert.ok(Math.abs(float[d]! - byDefault[d]!) < 1e-6, `default vs float at ${d}`);
          assert.ok(Math.abs(float[d]! - base64[d]!) < 1e-6, `base64 vs float at ${d}`);
        }
      }
      assert.equal(f.fake.counters.embeddings, 3);
      assert.equal(f.fake.counters.embeddedInputs, 6);
      const upstream = f.fake.requests.filter((r) => r.path === '/v1/embeddings').map((r) => r.body.encoding_format);
      assert.deepEqual(upstream, ['float', 'base64', 'base64'], 'encoding_format passed through as the client sent it');
    });
  });

  describe('errors in OpenAI format', () => {
    test('a wrong API key raises AuthenticationError (401 invalid_api_key) and never reaches the upstream', async () => {
      const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'oab_not-a-real-key', maxRetries: 0 });
      const err = await rejectsWith(openai.chat.completions.create({ model: MODEL, messages: hello }), AuthenticationError);
      assert.equal(err.status, 401);
      assertOpenAIError(err);
      assert.equal(err.code, 'invalid_api_key');
      // The raw body has exactly OpenAI's shape.
      const res = await fetch(`${base}/v1/models`, { headers: { authorization: 'Bearer oab_not-a-real-key' } });
      assert.equal(res.status, 401);
      assert.ok(res.headers.get('x-request-id'));
      const body = (await res.json()) as { error: Record<string, unknown> };
      assert.deepEqual(Object.keys(body), ['error']);
      assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(body.error.code, 'invalid_api_key');
      // No key at all is a 401 too.
      const none = await fetch(`${base}/v1/models`);
      assert.equal(none.status, 401);
      assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'invalid_api_key');
      assert.equal(f.fake.counters.requests, 0);
    });

    test('a body without model raises BadRequestError (400) naming model', async () => {
      const { openai } = await client();
      const err = await rejectsWith(openai.chat.completions.create({ messages: hello } as any), BadRequestError);
      assert.equal(err.status, 400);
      const e = assertOpenAIError(err);
      assert.equal(e.type, 'invalid_request_error');
      assert.equal(err.param, 'model');
    });

    test('a body without messages raises BadRequestError (400) naming messages', async () => {
      const { openai } = await client();
      const err = await rejectsWith(openai.chat.completions.create({ model: MODEL } as any), BadRequestError);
      assert.equal(err.status, 400);
      const e = assertOpenAIError(err);
      assert.equal(e.type, 'invalid_request_error');
      assert.equal(err.param, 'messages');
    });

    test('a body that is not JSON raises BadRequestError (400)', async () => {
      const { apiKey } = await client();
      const res = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: '{"model": ',
      });
      assert.equal(res.status, 400);
      assert.ok(res.headers.get('x-request-id'));
      const body = (await res.json()) as { error: Record<string, unknown> };
      assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(body.error.type, 'invalid_request_error');
    });

    test('an unknown /v1 path raises NotFoundError (404) in OpenAI format', async () => {
      const { openai } = await client();
      const err = await rejectsWith(openai.get('/no/such/path'), NotFoundError);
      assert.equal(err.status, 404);
      assertOpenAIError(err);
      const posted = await rejectsWith(openai.post('/no-such-endpoint', { body: { model: MODEL } }), NotFoundError);
      assertOpenAIError(posted);
    });

    test('upstream 500 after the retries raises InternalServerError (5xx)', async () => {
      const { openai } = await client();
      f.fake.addFault({ path: 'chat', status: 500, times: 10, retryAfterMs: '1' });
      const err = await rejectsWith(openai.chat.completions.create({ model: MODEL, messages: hello }), InternalServerError);
      assert.ok(err.status >= 500 && err.status <= 599, `status ${err.status}`);
      assertOpenAIError(err);
      assert.equal(f.fake.counters.chat, 3, 'one attempt and OPENAI_MAX_RETRIES=2 retries');
    });

    test('upstream 500 on a stream, before any chunk, raises InternalServerError too', async () => {
      const { openai } = await client();
      f.fake.addFault({ path: 'chat', status: 500, times: 10, retryAfterMs: '1' });
      const err = await rejectsWith(
        openai.chat.completions.create({ model: MODEL, messages: hello, stream: true }).then(collect),
        InternalServerError,
      );
      assert.ok(err.status >= 500, `status ${err.status}`);
      assertOpenAIError(err);
    });

    test("upstream 400 raises BadRequestError with the upstream's status, message and param, not retried", async () => {
      const { openai } = await client();
      const message = "Invalid value for 'temperature': expected a number between 0 and 2.";
      f.fake.addFault({
        path: 'chat',
        status: 400,
        times: 5,
        body: { error: { message, type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' } },
      });
      const err = await rejectsWith(openai.chat.completions.create({ model: MODEL, messages: hello }), BadRequestError);
      assert.equal(err.status, 400);
      const e = assertOpenAIError(err);
      assert.equal(e.message, message);
      assert.equal(err.param, 'temperature');
      assert.equal(err.code, 'invalid_value');
      assert.equal(e.type, 'invalid_request_error');
      assert.equal(f.fake.counters.chat, 1, 'a 400 is not retried');
    });

    test('upstream 429 after the retries raises RateLimitError with retry-after', async () => {
      const { openai } = await client();
      f.fake.addFault({ path: 'chat', status: 429, times: 10, retryAfterMs: '1' });
      const err = await rejectsWith(openai.chat.completions.create({ model: MODEL, messages: hello }), RateLimitError);
      assert.equal(err.status, 429);
      assertOpenAIError(err);
      assert.ok(err.headers.get('retry-after'), 'a retry-after header');
      assert.equal(f.fake.counters.chat, 3);
    });
  });

  describe('retries', () => {
    test('503, 503 then success: the gateway retries and the client sees one success', async () => {
      const { openai } = await client();
      f.fake.addFault({ path: 'chat', status: 503, times: 2, retryAfterMs: '1' });
      const completion = await openai.chat.completions.create({ model: MODEL, messages: hello });
      assert.equal(completion.choices[0]!.message.content, 'You said: hello');
      assert.equal(f.fake.counters.chat, 3);
    });

    test('503, 503 then success on a stream: retried before the first chunk', async () => {
      const { openai } = await client();
      f.fake.addFault({ path: 'chat', status: 503, times: 2, retryAfterMs: '1' });
      const chunks = await collect(await openai.chat.completions.create({ model: MODEL, messages: hello, stream: true }));
      assert.equal(contentOf(chunks), 'You said: hello');
      assert.equal(f.fake.counters.chat, 3);
    });
  });
});

describe('/v1 client disconnect', () => {
  // A fixture of its own: after an aborted fetch, Node's fetch may open a spare connection to an
  // origin it already used, and app.close() then waits for that request-less socket (~4 s).
  test('aborting a stream mid-way through the SDK aborts the upstream stream', async () => {
    const f = await createChatFixture();
    try {
      const base = await f.t.listen();
      const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: (await f.t.createUser()).apiKey, maxRetries: 0 });
      const stream = await openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: '[[words:50]] [[chunk-delay:50]]' }],
        stream: true,
      });
      const iterator = stream[Symbol.asyncIterator]();
      const first = await iterator.next();
      const second = await iterator.next();
      assert.equal(first.done, false);
      assert.equal(second.done, false);
      stream.controller.abort();
      // 50 chunks 50 ms apart take ~2.5 s; waitFor gives up after 2 s, so only an abort passes.
      await f.fake.waitFor((c) => c.abortedStreams === 1);
      assert.equal(f.fake.counters.completedStreams, 0);
    } finally {
      await f.close();
    }
  });
});

describe('/v1 under our per-key rate limit (RATE_LIMIT_PER_MINUTE=2)', () => {
  let f: ChatFixture;
  let base: string;
  before(async () => {
    f = await createChatFixture({ env: { RATE_LIMIT_PER_MINUTE: '2' } });
    base = await f.t.listen();
  });
  after(() => f.close());

  test('the third call raises RateLimitError (429 rate_limit_exceeded) with retry-after; another key still passes', async () => {
    const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: (await f.t.createUser('alice')).apiKey, maxRetries: 0 });
    for (let i = 0; i < 2; i++) await openai.chat.completions.create({ model: MODEL, messages: hello });
    const err = await rejectsWith(openai.chat.completions.create({ model: MODEL, messages: hello }), RateLimitError);
    assert.equal(err.status, 429);
    assertOpenAIError(err);
    assert.equal(err.code, 'rate_limit_exceeded');
    const retryAfter = Number(err.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${err.headers.get('retry-after')}`);
    assert.equal(f.fake.counters.chat, 2, 'the refused call never reached the upstream');

    const bob = new OpenAI({ baseURL: `${base}/v1`, apiKey: (await f.t.createUser('bob')).apiKey, maxRetries: 0 });
    assert.equal((await bob.chat.completions.create({ model: MODEL, messages: hello })).choices[0]!.message.content, 'You said: hello');
  });
});

describe('/v1 under a token budget (TOKENS_PER_MINUTE=50)', () => {
  let f: ChatFixture;
  let base: string;
  before(async () => {
    f = await createChatFixture({ env: { TOKENS_PER_MINUTE: '50' } });
    base = await f.t.listen();
  });
  after(() => f.close());

  // 400 characters: 104 prompt tokens at the fake, over the budget of 50 in one call.
  const long = [{ role: 'user' as const, content: 'x'.repeat(400) }];

  test('a /v1 call over the budget makes the next /v1 call and a /chat call answer 429', async () => {
    const { apiKey } = await f.t.createUser();
    const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0 });
    const first = await openai.chat.completions.create({ model: MODEL, messages: long });
    assert.ok(first.usage!.total_tokens > 50, `used ${first.usage!.total_tokens} tokens`);
    const err = await rejectsWith(openai.chat.completions.create({ model: MODEL, messages: hello }), RateLimitError);
    assert.equal(err.status, 429);
    assertOpenAIError(err);
    const retryAfter = Number(err.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${err.headers.get('retry-after')}`);
    const chat = await f.t.request({ method: 'POST', url: '/chat', key: apiKey, json: { message: 'hi' } });
    assert.equal(chat.statusCode, 429, chat.body);
    assert.equal(chat.json().error.code, 'rate_limited');
    assert.equal(f.fake.counters.chat, 1);
  });

  test("a stream's usage counts against the budget even when the client did not ask for it", async () => {
    const { apiKey } = await f.t.createUser('streamer');
    const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0 });
    const chunks = await collect(await openai.chat.completions.create({ model: MODEL, messages: long, stream: true }));
    assert.ok(chunks.every((c) => c.usage == null));
    const err = await rejectsWith(openai.chat.completions.create({ model: MODEL, messages: hello }), RateLimitError);
    assert.equal(err.status, 429);
  });
});

describe('/v1 upstream rejects our provider key', () => {
  test('the client gets a 502 (InternalServerError) that never shows the provider key, not a 401', async () => {
    const f = await createChatFixture({ fakeApiKey: 'sk-the-right-key', env: { OPENAI_API_KEY: 'sk-wrong-secret-key-123' } });
    try {
      const base = await f.t.listen();
      const { apiKey } = await f.t.createUser();
      const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0 });
      const err = await rejectsWith(openai.chat.completions.create({ model: MODEL, messages: hello }), InternalServerError);
      assert.equal(err.status, 502);
      assertOpenAIError(err);
      assert.ok(!JSON.stringify(err.error).includes('sk-wrong'), 'the key is not in the error');
      assert.ok(!err.message.includes('sk-wrong'));
      assert.equal(f.fake.counters.requests, 1, 'a rejected key is not retried');
      // The raw body, too.
      const res = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, messages: hello }),
      });
      assert.equal(res.status, 502);
      assert.ok(res.headers.get('x-request-id'));
      const text = await res.text();
      assert.ok(!text.includes('sk-wrong'), text);
      assert.ok(!f.t.logText().includes('sk-wrong-secret-key-123'), 'the key is not in the logs');
      // Models are served by the same upstream and fail the same way.
      const models = await rejectsWith(openai.models.list(), InternalServerError);
      assert.equal(models.status, 502);
    } finally {
      await f.close();
    }
  });
});

describe('/v1 metrics', () => {
  test('a chat call, a stream and an embeddings call show up in openai_requests_total and openai_tokens_total per model', async () => {
    const f = await createChatFixture({ env: { OPENAI_MAX_RETRIES: '1' } });
    try {
      const base = await f.t.listen();
      const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: (await f.t.createUser()).apiKey, maxRetries: 0 });
      await openai.chat.completions.create({ model: 'gpt-4.1-nano', messages: hello });
      await collect(await openai.chat.completions.create({ model: 'gpt-4.1-nano', messages: hello, stream: true }));
      await openai.embeddings.create({ model: 'text-embedding-ada-002', input: 'hello world' });

      const sample = (text: string, name: string, labels: Record<string, string>) => {
        for (const line of text.split('\n')) {
          const m = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
          if (!m || m[1] !== name) continue;
          const got: Record<string, string> = {};
          for (const [, k, v] of m[2]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) got[k!] = v!;
          if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
        }
        return undefined;
      };
      // A stream's call is observed once it ended, which may be a moment after the client read [DONE].
      let text = '';
      for (let i = 0; i < 100; i++) {
        const res = await fetch(`${base}/metrics`);
        assert.equal(res.status, 200);
        text = await res.text();
        if (sample(text, 'openai_requests_total', { model: 'gpt-4.1-nano', status: 'success' }) === 2) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      const lines = text.split('\n').filter((l) => l.startsWith('openai_'));
      const where = `\n${lines.join('\n')}`;
      assert.equal(sample(text, 'openai_requests_total', { model: 'gpt-4.1-nano', status: 'success' }), 2, where);
      assert.equal(sample(text, 'openai_requests_total', { model: 'text-embedding-ada-002', status: 'success' }), 1, where);
      // 'hello' is 6 prompt and 3 completion tokens at the fake; the stream's usage counts though the client did not ask for it.
      assert.equal(sample(text, 'openai_tokens_total', { model: 'gpt-4.1-nano', type: 'prompt' }), 12, where);
      assert.equal(sample(text, 'openai_tokens_total', { model: 'gpt-4.1-nano', type: 'completion' }), 6, where);
    } finally {
      await f.close();
    }
  });
});
