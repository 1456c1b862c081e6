/**
 * The Responses API with clients nobody here wrote: the Vercel AI SDK's Responses model
 * (`openai.responses(model)`) and the OpenAI Agents SDK running an agent with a function
 * tool, over real HTTP against the real app and the fake model server.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { createOpenAI } from '@ai-sdk/openai';
import { Agent, OpenAIProvider, Runner, setTracingDisabled, tool as agentTool } from '@openai/agents';
import { generateText, stepCountIs, streamText, tool } from 'ai';
import OpenAI from 'openai';
import { z } from 'zod';
import { chatRequests, createChatFixture, type ChatFixture } from './helpers/fake-upstream.js';

// The Agents SDK would send traces to OpenAI's servers otherwise.
setTracingDisabled(true);

describe('/v1/responses with the Vercel AI SDK and the OpenAI Agents SDK', () => {
  let f: ChatFixture;
  let base: string;
  before(async () => {
    f = await createChatFixture({ env: { OPENAI_MAX_RETRIES: '0' } });
    base = await f.t.listen();
  });
  beforeEach(() => f.fake.reset());
  after(() => f.close());

  const apiKey = async () => (await f.t.createUser()).apiKey;

  test('AI SDK generateText through openai.responses(model)', async () => {
    const openai = createOpenAI({ baseURL: `${base}/v1`, apiKey: await apiKey() });
    const result = await generateText({ model: openai.responses('gpt-4o-mini'), system: 'Be kind.', prompt: 'hello responses', maxRetries: 0 });
    assert.equal(result.text, 'You said: hello responses');
    assert.equal(result.finishReason, 'stop');
    assert.equal(result.usage.outputTokens, 4);
    assert.ok((result.usage.inputTokens ?? 0) > 0);
    const responseId = (result.providerMetadata?.openai as { responseId?: string } | undefined)?.responseId;
    assert.match(String(responseId), /^resp_/);
    assert.deepEqual(chatRequests(f.fake).at(-1)!.body.messages, [
      { role: 'system', content: 'Be kind.' },
      { role: 'user', content: 'hello responses' },
    ]);
  });

  test('AI SDK streamText through openai.responses(model)', async () => {
    const openai = createOpenAI({ baseURL: `${base}/v1`, apiKey: await apiKey() });
    const errors: unknown[] = [];
    const result = streamText({ model: openai.responses('gpt-4o-mini'), prompt: 'stream via responses', maxRetries: 0, onError: ({ error }) => void errors.push(error) });
    const parts: string[] = [];
    for await (const delta of result.textStream) parts.push(delta);
    assert.deepEqual(errors, []);
    assert.ok(parts.length > 1, `streamed in parts (${parts.length})`);
    assert.equal(parts.join(''), 'You said: stream via responses');
    assert.equal(await result.finishReason, 'stop');
    assert.equal((await result.usage).outputTokens, 5);
  });

  test('AI SDK generateText with a tool over two steps (the second sends the call and its result back)', async () => {
    const openai = createOpenAI({ baseURL: `${base}/v1`, apiKey: await apiKey() });
    const calls: string[] = [];
    const result = await generateText({
      model: openai.responses('gpt-4o-mini'),
      prompt: 'weather [[tool:get_weather {"city":"Oslo"}]]',
      tools: {
        get_weather: tool({
          description: 'Weather in a city',
          inputSchema: z.object({ city: z.string() }),
          execute: async ({ city }) => {
            calls.push(city);
            return { city, temperature_c: 3 };
          },
        }),
      },
      stopWhen: stepCountIs(3),
      maxRetries: 0,
    });
    assert.deepEqual(calls, ['Oslo']);
    assert.equal(result.text, 'Done: {"city":"Oslo","temperature_c":3}');
    assert.equal(result.steps.length, 2);
  });

  test('AI SDK streamText with a tool: the call\'s input streams in deltas, runs, and the second step answers', async () => {
    const openai = createOpenAI({ baseURL: `${base}/v1`, apiKey: await apiKey() });
    const errors: unknown[] = [];
    const result = streamText({
      model: openai.responses('gpt-4o-mini'),
      prompt: 'weather [[tool:get_weather {"city":"Reykjavik"}]]',
      tools: { get_weather: tool({ inputSchema: z.object({ city: z.string() }), execute: async ({ city }) => ({ city, temperature_c: 1 }) }) },
      stopWhen: stepCountIs(3),
      maxRetries: 0,
      onError: ({ error }) => void errors.push(error),
    });
    const inputDeltas: string[] = [];
    for await (const part of result.fullStream) if (part.type === 'tool-input-delta') inputDeltas.push(part.delta);
    assert.deepEqual(errors, []);
    assert.ok(inputDeltas.length > 1, `streamed in deltas (${inputDeltas.length})`);
    assert.equal(inputDeltas.join(''), '{"city":"Reykjavik"}');
    assert.equal(await result.text, 'Done: {"city":"Reykjavik","temperature_c":1}');
  });

  test('an Agents SDK agent with one function tool runs to completion against the service', async () => {
    const seen: string[] = [];
    const getWeather = agentTool({
      name: 'get_weather',
      description: 'Weather in a city',
      parameters: z.object({ city: z.string() }),
      execute: async ({ city }) => {
        seen.push(city);
        return `Sunny in ${city}`;
      },
    });
    const agent = new Agent({ name: 'Weather', instructions: 'Use the tool.', model: 'gpt-4o-mini', tools: [getWeather] });
    const runner = new Runner({ modelProvider: new OpenAIProvider({ apiKey: await apiKey(), baseURL: `${base}/v1`, useResponses: true }) });
    const result = await runner.run(agent, 'What is the weather? [[tool:get_weather {"city":"Lisbon"}]]');
    assert.deepEqual(seen, ['Lisbon']);
    assert.equal(result.finalOutput, 'Done: Sunny in Lisbon');
    const requests = chatRequests(f.fake);
    assert.equal(requests.length, 2);
    assert.equal(requests[0]!.body.tools[0].function.name, 'get_weather');
    assert.deepEqual(
      (requests[1]!.body.messages as Array<{ role: string }>).map((m) => m.role),
      ['system', 'user', 'assistant', 'tool'],
    );
  });
});

describe('/v1/responses under per-key limits, token budgets and metrics', () => {
  let f: ChatFixture;
  let base: string;
  before(async () => {
    f = await createChatFixture({ env: { OPENAI_MAX_RETRIES: '0', TOKENS_PER_MINUTE: '120', RATE_LIMIT_PER_MINUTE: '1000' } });
    base = await f.t.listen();
  });
  after(() => f.close());

  test("every upstream call counts against the key's TOKENS_PER_MINUTE; over it, 429 rate_limit_exceeded with nothing sent", async () => {
    const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: (await f.t.createUser()).apiKey, maxRetries: 0 });
    let answered = 0;
    let refused: unknown;
    for (let i = 0; i < 20 && !refused; i++) {
      try {
        await openai.responses.create({ model: 'gpt-4o-mini', input: `turn ${i}`, max_output_tokens: 16 });
        answered++;
      } catch (error) {
        refused = error;
      }
    }
    assert.ok(answered >= 1 && answered < 20, `answered ${answered}`);
    assert.ok(refused instanceof OpenAI.RateLimitError, String(refused));
    assert.equal(refused.code, 'rate_limit_exceeded');
    assert.equal(chatRequests(f.fake).length, answered, 'the refused call never went upstream');

    const metrics = await (await fetch(`${base}/metrics`)).text();
    const line = metrics.split('\n').find((l) => l.startsWith('openai_requests_total{') && l.includes('model="gpt-4o-mini"') && l.includes('status="success"'));
    assert.ok(line, 'openai_requests_total counts the calls');
    assert.equal(Number(line.split(' ').at(-1)), answered);
  });
});
