/**
 * Background responses (`background: true`) with the official openai SDK: detached runs,
 * retrieve polling, replay with `starting_after` through the resumable-streams hub, cancel.
 * Real HTTP, the real app, the fake model server, SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, beforeEach, describe, test } from 'node:test';
import OpenAI from 'openai';
import { TEST_DATABASES } from './helpers/databases.js';
import { chatRequests, createChatFixture, type ChatFixture } from './helpers/fake-upstream.js';

for (const database of TEST_DATABASES) {
  describe(`background /v1/responses (${database.name})`, () => {
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

    /** Polls retrieve until the response leaves queued / in_progress. */
    async function settled(openai: OpenAI, id: string) {
      for (let i = 0; i < 500; i++) {
        const response = await openai.responses.retrieve(id);
        if (response.status !== 'queued' && response.status !== 'in_progress') return response;
        await sleep(20);
      }
      throw new Error(`response ${id} did not settle`);
    }

    test('background: answered queued at once, runs detached, retrieve polling shows it completed', async () => {
      const openai = await client();
      const created = await openai.responses.create({ model: 'gpt-4o-mini', input: 'in the background', background: true });
      assert.match(created.id, /^resp_/);
      assert.ok(created.status === 'queued' || created.status === 'in_progress', created.status);
      assert.equal(created.background, true);
      const done = await settled(openai, created.id);
      assert.equal(done.status, 'completed');
      assert.equal(done.output_text, 'You said: in the background');
      assert.equal(chatRequests(f.fake).length, 1);
      // It can be continued like any stored response.
      const next = await openai.responses.create({ model: 'gpt-4o-mini', input: 'after', previous_response_id: created.id });
      assert.deepEqual((chatRequests(f.fake).at(-1)!.body.messages as Array<{ content: string }>).map((m) => m.content), ['in the background', 'You said: in the background', 'after']);
      assert.equal(next.status, 'completed');
    });

    test('GET ?stream=true&starting_after=N replays the events after N, then follows live to the end', async () => {
      const openai = await client();
      const created = await openai.responses.create({ model: 'gpt-4o-mini', input: '[[words:20]] [[chunk-delay:15]]', background: true });
      const replay = await openai.responses.retrieve(created.id, { stream: true, starting_after: 3 });
      const events: Array<{ type: string; sequence_number: number }> = [];
      for await (const event of replay) events.push(event);
      assert.equal(events[0]!.sequence_number, 4);
      assert.deepEqual(
        events.map((e) => e.sequence_number),
        events.map((_, i) => i + 4),
        'strictly increasing, none missing',
      );
      assert.equal(events.at(-1)!.type, 'response.completed');
      const text = events.filter((e) => e.type === 'response.output_text.delta').map((e) => (e as unknown as { delta: string }).delta).join('');
      assert.ok('w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13 w14 w15 w16 w17 w18 w19 w20'.endsWith(text), text);

      // The SDK's stream helper over the whole replay rebuilds the final response.
      const stream = openai.responses.stream({ response_id: created.id, starting_after: 10 });
      const seen: number[] = [];
      for await (const event of stream) seen.push(event.sequence_number);
      assert.ok(seen.every((n) => n > 10));
      const final = await stream.finalResponse();
      assert.equal(final.output_text, (await openai.responses.retrieve(created.id)).output_text);
      assert.equal(final.status, 'completed');
    });

    test('background with stream: true streams its events from the start, resumable by id', async () => {
      const openai = await client();
      const stream = await openai.responses.create({ model: 'gpt-4o-mini', input: 'both at once', background: true, stream: true });
      const events: Array<{ type: string; sequence_number: number; response?: { id: string } }> = [];
      for await (const event of stream) events.push(event);
      assert.equal(events[0]!.type, 'response.created');
      assert.deepEqual(
        events.map((e) => e.sequence_number),
        events.map((_, i) => i),
      );
      assert.equal(events.at(-1)!.type, 'response.completed');
      const id = events[0]!.response!.id;
      assert.equal((await openai.responses.retrieve(id)).output_text, 'You said: both at once');
    });

    test('cancel stops it: the upstream request is aborted and the response is cancelled with what arrived', async () => {
      const openai = await client();
      const created = await openai.responses.create({ model: 'gpt-4o-mini', input: '[[words:500]] [[chunk-delay:20]]', background: true });
      await f.fake.waitFor((c) => c.chatStreams === 1);
      // Cancel once text has been logged (read from its event log), not after a guessed wait.
      const following = await openai.responses.retrieve(created.id, { stream: true, starting_after: 0 });
      let deltas = 0;
      for await (const event of following) if (event.type === 'response.output_text.delta' && ++deltas === 2) break;
      const cancelled = await openai.responses.cancel(created.id);
      assert.equal(cancelled.status, 'cancelled');
      await f.fake.waitFor((c) => c.abortedStreams === 1, 5000);
      const stored = await settled(openai, created.id);
      assert.equal(stored.status, 'cancelled');
      assert.ok(stored.output_text.startsWith('w1 w2'), `kept what arrived: ${stored.output_text.slice(0, 40)}`);
      assert.ok(stored.output_text.split(' ').length < 500);
      // Cancelling again answers it as it is.
      assert.equal((await openai.responses.cancel(created.id)).status, 'cancelled');
      // Its stream ends.
      const replay = await openai.responses.retrieve(created.id, { stream: true });
      let count = 0;
      for await (const _ of replay) count++;
      assert.ok(count > 0);
    });

    test('a reader following a background response that is cancelled gets a last response.cancelled event, also when it resumes', async () => {
      const openai = await client();
      const stream = await openai.responses.create({ model: 'gpt-4o-mini', input: '[[words:500]] [[chunk-delay:20]]', background: true, stream: true });
      const events: Array<{ type: string; sequence_number: number; delta?: string; response?: { id: string; status: string; output_text?: string; output: Array<{ content?: Array<{ text: string }> }> } }> = [];
      let cancel: Promise<OpenAI.Responses.Response> | undefined;
      for await (const event of stream) {
        events.push(event as never);
        // Cancelled from another call once two deltas are in; this reader goes on reading.
        if (!cancel && events.filter((e) => e.type === 'response.output_text.delta').length === 2) cancel = openai.responses.cancel(events[0]!.response!.id);
      }
      assert.equal((await cancel)?.status, 'cancelled');
      assert.deepEqual(
        events.map((e) => e.sequence_number),
        events.map((_, i) => i),
      );
      const last = events.at(-1)!;
      assert.equal(last.type, 'response.cancelled');
      assert.equal(last.response!.status, 'cancelled');
      assert.equal(last.response!.id, events[0]!.response!.id);
      const text = events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : [])).join('');
      assert.ok(text.startsWith('w1 w2'));
      assert.equal(last.response!.output[0]?.content?.[0]?.text, text, 'what arrived');
      assert.equal((await openai.responses.retrieve(last.response!.id)).status, 'cancelled');
      // Logged before the log ended: a resume gets it too.
      const resumed: Array<{ type: string; sequence_number: number }> = [];
      for await (const event of await openai.responses.retrieve(last.response!.id, { stream: true, starting_after: last.sequence_number - 1 })) resumed.push(event);
      assert.deepEqual(resumed.map((e) => [e.type, e.sequence_number]), [['response.cancelled', last.sequence_number]]);
    });

    test('cancelled before its first token: its stream is one response.cancelled event', async () => {
      const openai = await client();
      const created = await openai.responses.create({ model: 'gpt-4o-mini', input: '[[delay:10000]] slow', background: true });
      await f.fake.waitFor((c) => c.chatStreams === 1);
      assert.equal((await openai.responses.cancel(created.id)).status, 'cancelled');
      const events: Array<{ type: string; sequence_number: number; response?: { status: string } }> = [];
      for await (const event of await openai.responses.retrieve(created.id, { stream: true })) events.push(event as never);
      assert.deepEqual(events.map((e) => [e.type, e.sequence_number, e.response?.status]), [['response.cancelled', 0, 'cancelled']]);
    });

    test('a background request the upstream refuses stays, failed (it was answered queued); its stream ends with response.failed', async () => {
      const openai = await client();
      const created = await openai.responses.create({ model: 'gpt-4o-mini', input: '[[error:400]] refused', background: true });
      const stored = await settled(openai, created.id);
      assert.equal(stored.status, 'failed');
      assert.equal(stored.error?.code, 'invalid_prompt');
      const events: Array<{ type: string }> = [];
      for await (const event of await openai.responses.retrieve(created.id, { stream: true })) events.push(event);
      assert.deepEqual(events.map((e) => e.type), ['response.failed']);
    });

    test("cancel and stream replay of another user's response are 404, as unknown ids; background needs store", async () => {
      const owner = await client();
      const created = await owner.responses.create({ model: 'gpt-4o-mini', input: 'mine', background: true });
      const other = await client();
      await assert.rejects(other.responses.cancel(created.id), OpenAI.NotFoundError);
      await assert.rejects(other.responses.cancel('resp_0123456789abcdef0123456789abcdef'), OpenAI.NotFoundError);
      await assert.rejects(
        (async () => {
          for await (const _ of await other.responses.retrieve(created.id, { stream: true })) void _;
        })(),
        OpenAI.NotFoundError,
      );
      await settled(owner, created.id);
      const plain = await owner.responses.create({ model: 'gpt-4o-mini', input: 'not background' });
      await assert.rejects(owner.responses.cancel(plain.id), OpenAI.BadRequestError);
      await assert.rejects(owner.responses.create({ model: 'gpt-4o-mini', input: 'x', background: true, store: false }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'background');
    });
  });
}
