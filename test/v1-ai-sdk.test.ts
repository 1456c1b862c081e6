/**
 * End-to-end tests of the OpenAI-compatible gateway (`/v1`) with the Vercel AI SDK (`ai` + `@ai-sdk/openai`,
 * Chat Completions model) over real HTTP against the real app, with the fake model server as the upstream.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { createOpenAI } from '@ai-sdk/openai';
import { APICallError, generateText, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';
import { chatRequests, createChatFixture, type ChatFixture } from './helpers/fake-upstream.js';

describe('/v1 with the Vercel AI SDK (provider.chat)', () => {
  let f: ChatFixture;
  let base: string;
  before(async () => {
    f = await createChatFixture({ env: { OPENAI_MAX_RETRIES: '1' } });
    base = await f.t.listen();
  });
  beforeEach(() => f.fake.reset());
  after(() => f.close());

  /** A Chat Completions model through the gateway, with a fresh user's API key. */
  async function model(id = 'gpt-4o-mini') {
    const { apiKey } = await f.t.createUser();
    return createOpenAI({ baseURL: `${base}/v1`, apiKey }).chat(id);
  }

  /** A tool with a zod input schema that records its calls. */
  function weatherTool() {
    const calls: Array<{ city: string }> = [];
    const getWeather = tool({
      description: 'Current weather in a city',
      inputSchema: z.object({ city: z.string() }),
      execute: async ({ city }) => {
        calls.push({ city });
        return { city, temperature_c: 21 };
      },
    });
    return { getWeather, calls };
  }

  test("generateText returns the upstream's reply and its usage", async () => {
    const result = await generateText({ model: await model(), prompt: 'hello', maxRetries: 0 });
    assert.equal(result.text, 'You said: hello');
    assert.equal(result.finishReason, 'stop');
    assert.equal(result.usage.inputTokens, 6);
    assert.equal(result.usage.outputTokens, 3);
    assert.equal(result.usage.totalTokens, 9);
    assert.equal(chatRequests(f.fake).length, 1);
    assert.equal(chatRequests(f.fake)[0]!.body.model, 'gpt-4o-mini');
  });

  test('streamText streams the reply, with usage (the SDK asks for it)', async () => {
    const errors: unknown[] = [];
    const result = streamText({
      model: await model(),
      prompt: 'stream this please',
      maxRetries: 0,
      onError: ({ error }) => {
        errors.push(error);
      },
    });
    const parts: string[] = [];
    for await (const delta of result.textStream) parts.push(delta);
    assert.deepEqual(errors, []);
    assert.ok(parts.length > 1, `streamed in several parts (${parts.length})`);
    assert.equal(parts.join(''), 'You said: stream this please');
    assert.equal(await result.text, 'You said: stream this please');
    assert.equal(await result.finishReason, 'stop');
    const usage = await result.usage;
    assert.ok((usage.inputTokens ?? 0) > 0, `usage: ${JSON.stringify(usage)}`);
    assert.equal(usage.outputTokens, 5);
    assert.equal(chatRequests(f.fake)[0]!.body.stream_options?.include_usage, true);
  });

  test('generateText with a tool: the tool runs once and the second step answers "Done: …"', async () => {
    const { getWeather, calls } = weatherTool();
    const result = await generateText({
      model: await model(),
      tools: { get_weather: getWeather },
      stopWhen: stepCountIs(2),
      prompt: '[[tool:get_weather {"city":"Paris"}]] What is the weather in Paris?',
      maxRetries: 0,
    });
    assert.deepEqual(calls, [{ city: 'Paris' }]);
    assert.equal(result.steps.length, 2);
    assert.equal(result.steps[0]!.finishReason, 'tool-calls');
    assert.equal(result.steps[0]!.toolCalls[0]?.toolName, 'get_weather');
    assert.ok(result.text.startsWith('Done:'), result.text);
    assert.match(result.text, /Paris/);
    assert.match(result.text, /21/);
    assert.equal(chatRequests(f.fake).length, 2);
    const second = chatRequests(f.fake)[1]!.body;
    assert.equal(second.messages.at(-1).role, 'tool');
  });

  test('streamText with a tool: the tool runs once and the streamed final text answers "Done: …"', async () => {
    const { getWeather, calls } = weatherTool();
    const errors: unknown[] = [];
    const result = streamText({
      model: await model(),
      tools: { get_weather: getWeather },
      stopWhen: stepCountIs(2),
      prompt: '[[tool:get_weather {"city":"Paris"}]] What is the weather in Paris?',
      maxRetries: 0,
      onError: ({ error }) => {
        errors.push(error);
      },
    });
    let text = '';
    for await (const delta of result.textStream) text += delta;
    assert.deepEqual(errors, []);
    assert.deepEqual(calls, [{ city: 'Paris' }]);
    assert.ok(text.startsWith('Done:'), text);
    assert.equal((await result.steps).length, 2);
  });

  test('a wrong API key is an APICallError with status 401', async () => {
    const provider = createOpenAI({ baseURL: `${base}/v1`, apiKey: 'oab_not-a-real-key' });
    let caught: unknown;
    try {
      await generateText({ model: provider.chat('gpt-4o-mini'), prompt: 'hello', maxRetries: 0 });
    } catch (err) {
      caught = err;
    }
    assert.ok(APICallError.isInstance(caught), `expected APICallError, got ${String(caught)}`);
    assert.equal(caught.statusCode, 401);
    assert.equal((caught.data as { error?: { code?: string } } | undefined)?.error?.code, 'invalid_api_key');
    assert.equal(f.fake.counters.requests, 0);
  });
});
