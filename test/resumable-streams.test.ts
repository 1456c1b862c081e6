import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { redisKeyPrefix, TEST_DATABASES } from './helpers/databases.js';
import { createChatFixture, type ChatFixture } from './helpers/fake-upstream.js';
import { readSse, until, type SseEvent } from './helpers/sse-events.js';

const REDIS = process.env.TEST_REDIS_URL;
/** Where logs live: process memory, and Redis Streams when the test run has a Redis. */
const HUBS: Array<{ name: string; env: () => Record<string, string> }> = [
  { name: 'in-process', env: () => ({}) },
  ...(REDIS ? [{ name: 'redis', env: () => ({ REDIS_URL: REDIS, REDIS_KEY_PREFIX: redisKeyPrefix() }) }] : []),
];

/** A stream slow enough to leave and come back to: 30 words, a chunk every 20 ms. */
const SLOW = '[[words:30]] [[chunk-delay:20]] go';
const joined = (events: SseEvent[]) =>
  events
    .map((e) => e.data?.content)
    .filter((c): c is string => typeof c === 'string')
    .join('');

for (const db of TEST_DATABASES) {
  for (const hub of HUBS) {
    describe(`resumable streams (${db.name}, ${hub.name})`, () => {
      let f: ChatFixture;
      let short: ChatFixture;
      let base: string;
      let shortBase: string;
      let key: string;
      let shortKey: string;
      let otherKey: string;
      before(async () => {
        f = await createChatFixture({ database: db, env: hub.env() });
        // Tiny grace and retention, for the tests of what happens when they run out.
        short = await createChatFixture({
          database: db,
          env: { ...hub.env(), STREAM_RESUME_GRACE_SECONDS: '0.2', STREAM_RETENTION_SECONDS: '0.3' },
        });
        base = await f.t.listen();
        shortBase = await short.t.listen();
        key = (await f.t.createUser('owner')).apiKey;
        otherKey = (await f.t.createUser('someone-else')).apiKey;
        shortKey = (await short.t.createUser('owner')).apiKey;
      });
      beforeEach(() => {
        f.fake.reset();
        short.fake.reset();
      });
      after(async () => {
        await f.close();
        await short.close();
      });

      const start = (at: string, apiKey: string, path: string, body: unknown, abort?: AbortController) =>
        fetch(`${at}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
          ...(abort && { signal: abort.signal }),
        });
      const resume = (at: string, apiKey: string, id: string, headers: Record<string, string> = {}, query = '') =>
        fetch(`${at}/streams/${id}${query}`, { headers: { authorization: `Bearer ${apiKey}`, ...headers } });
      const messagesOf = async (t: ChatFixture, apiKey: string, id: string) =>
        (await t.t.request({ method: 'GET', url: `/conversations/${id}/messages`, key: apiKey })).json().data as Array<{
          role: string;
          content: string;
          status: string;
        }>;
      const assistantReply = (t: ChatFixture, apiKey: string, id: string) =>
        until(async () => (await messagesOf(t, apiKey, id)).find((m) => m.role === 'assistant'), 'the stored reply');

      /** Starts a stream, reads `n` events and leaves. */
      async function leaveAfter(at: string, apiKey: string, body: unknown, n: number, path = '/chat/stream') {
        const abort = new AbortController();
        const res = await start(at, apiKey, path, body, abort);
        assert.equal(res.status, 200);
        const seen = await readSse(res, { stopAfter: n, abort });
        const first = seen[0]!.data as { conversation_id: string; stream_id: string };
        return { seen, conversationId: first.conversation_id, streamId: first.stream_id };
      }

      test('every event carries its id; the first names the conversation and the stream', async () => {
        const res = await start(base, key, '/chat/stream', { message: 'hello there' });
        const events = await readSse(res);
        assert.deepEqual(
          events.map((e) => e.id),
          events.map((_, i) => i + 1),
        );
        assert.deepEqual(Object.keys(events[0]!.data).sort(), ['conversation_id', 'stream_id']);
        assert.equal(joined(events), 'You said: hello there');
        assert.equal(events.at(-1)!.data, '[DONE]');
        // Replayed whole afterwards, with the same ids.
        const replay = await readSse(await resume(base, key, events[0]!.data.stream_id));
        assert.deepEqual(replay, events);
      });

      test('disconnect after 3 events with resumable: true, reconnect with Last-Event-ID: 3 → exactly the remaining events, stored complete', async () => {
        const { seen, conversationId, streamId } = await leaveAfter(base, key, { message: SLOW, resumable: true }, 3);
        const res = await resume(base, key, streamId, { 'last-event-id': '3' });
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
        const rest = await readSse(res);
        const all = [...seen, ...rest];
        assert.deepEqual(
          all.map((e) => e.id),
          all.map((_, i) => i + 1),
          'no event lost or repeated',
        );
        assert.equal(rest.at(-1)!.data, '[DONE]');
        assert.ok(rest.some((e) => e.data?.usage));
        const reply = await assistantReply(f, key, conversationId);
        assert.equal(reply.status, 'complete');
        assert.equal(joined(all), reply.content);
        assert.equal(reply.content.split(' ').length, 30);
        assert.equal(f.fake.counters.abortedStreams, 0);
        // ?after= does the same as the header.
        assert.deepEqual(await readSse(await resume(base, key, streamId, {}, '?after=3')), rest);
      });

      test('an agent stream resumes the same way', async () => {
        const { seen, conversationId, streamId } = await leaveAfter(base, key, { message: SLOW, resumable: true }, 2, '/agent/stream');
        const rest = await readSse(await resume(base, key, streamId, { 'last-event-id': '2' }));
        const all = [...seen, ...rest];
        assert.deepEqual(
          all.map((e) => e.id),
          all.map((_, i) => i + 1),
        );
        assert.equal(rest.at(-1)!.data, '[DONE]');
        const reply = await assistantReply(f, key, conversationId);
        assert.equal(reply.status, 'complete');
        assert.equal(joined(all), reply.content);
      });

      test('background: true with nobody attached runs to the end, stored complete', async () => {
        const { conversationId, streamId } = await leaveAfter(base, key, { message: SLOW, background: true }, 1);
        const reply = await until(async () => (await messagesOf(f, key, conversationId)).find((m) => m.role === 'assistant' && m.status === 'complete'), 'the complete reply');
        assert.equal(reply.content.split(' ').length, 30);
        assert.equal(f.fake.counters.abortedStreams, 0);
        const replay = await readSse(await resume(base, key, streamId));
        assert.equal(joined(replay), reply.content);
        assert.equal(replay.at(-1)!.data, '[DONE]');
      });

      test('the default policy still aborts the upstream at once when the client leaves', async () => {
        const { conversationId, streamId } = await leaveAfter(base, key, { message: SLOW }, 3);
        await f.fake.waitFor((c) => c.abortedStreams === 1);
        const reply = await assistantReply(f, key, conversationId);
        assert.equal(reply.status, 'incomplete');
        // What was produced stays readable; it ends without [DONE].
        const replay = await readSse(await resume(base, key, streamId));
        assert.notEqual(replay.at(-1)!.data, '[DONE]');
        assert.equal(joined(replay), reply.content);
      });

      test('when the grace runs out with nobody back, the upstream is aborted and the reply stored incomplete', async () => {
        const { seen, conversationId, streamId } = await leaveAfter(shortBase, shortKey, { message: '[[words:200]] [[chunk-delay:20]] go', resumable: true }, 3);
        await short.fake.waitFor((c) => c.abortedStreams === 1, 10_000);
        const reply = await assistantReply(short, shortKey, conversationId);
        assert.equal(reply.status, 'incomplete');
        assert.ok(reply.content.startsWith(joined(seen)));
        assert.ok(reply.content.split(' ').length < 200);
        void streamId;
      });

      test('POST /streams/{id}/cancel stops a background stream; its reply is stored incomplete', async () => {
        const { conversationId, streamId } = await leaveAfter(base, key, { message: '[[words:200]] [[chunk-delay:20]] go', background: true }, 2);
        const cancel = await f.t.request({ method: 'POST', url: `/streams/${streamId}/cancel`, key });
        assert.equal(cancel.statusCode, 200);
        assert.deepEqual(cancel.json(), { stream_id: streamId, cancelled: true });
        await f.fake.waitFor((c) => c.abortedStreams === 1);
        const reply = await assistantReply(f, key, conversationId);
        assert.equal(reply.status, 'incomplete');
        const replay = await readSse(await resume(base, key, streamId));
        assert.notEqual(replay.at(-1)!.data, '[DONE]');
        assert.equal(joined(replay), reply.content);
        const again = await f.t.request({ method: 'POST', url: `/streams/${streamId}/cancel`, key });
        assert.deepEqual(again.json(), { stream_id: streamId, cancelled: false });
      });

      test('resuming an ended stream after its last event (or past it) ends at once', { timeout: 10_000 }, async () => {
        const events = await readSse(await start(base, key, '/chat/stream', { message: 'all of it' }));
        const streamId = events[0]!.data.stream_id as string;
        const last = events.at(-1)!.id!;
        for (const after of [last, last + 1, last + 1000]) {
          const res = await resume(base, key, streamId, { 'last-event-id': String(after) });
          assert.equal(res.status, 200);
          assert.deepEqual(await readSse(res), [], `after ${after}: nothing more, and the stream ends`);
        }
      });

      test("another user's stream and an unknown one are 404; a bad Last-Event-ID is 422", async () => {
        const res = await start(base, key, '/chat/stream', { message: 'mine' });
        const events = await readSse(res);
        const streamId = events[0]!.data.stream_id as string;
        for (const id of [streamId, 'no-such-stream']) {
          const read = await f.t.request({ method: 'GET', url: `/streams/${id}`, key: otherKey });
          assert.equal(read.statusCode, 404);
          assert.equal(read.json().error.code, 'not_found');
          const cancel = await f.t.request({ method: 'POST', url: `/streams/${id}/cancel`, key: otherKey });
          assert.equal(cancel.statusCode, 404);
        }
        const unauthenticated = await f.t.request({ method: 'GET', url: `/streams/${streamId}` });
        assert.equal(unauthenticated.statusCode, 401);
        const bad = await f.t.request({ method: 'GET', url: `/streams/${streamId}`, key, headers: { 'last-event-id': 'three' } });
        assert.equal(bad.statusCode, 422);
        assert.equal(bad.json().error.code, 'validation_error');
      });

      test('410 stream_expired once STREAM_RETENTION_SECONDS have passed after the end', async () => {
        const events = await readSse(await start(shortBase, shortKey, '/chat/stream', { message: 'short-lived' }));
        const streamId = events[0]!.data.stream_id as string;
        const expired = await until(async () => {
          const res = await short.t.request({ method: 'GET', url: `/streams/${streamId}`, key: shortKey });
          return res.statusCode === 410 ? res : undefined;
        }, '410');
        assert.equal(expired.json().error.code, 'stream_expired');
        // Still 404 for anyone else.
        const other = await short.t.createUser('other');
        assert.equal((await short.t.request({ method: 'GET', url: `/streams/${streamId}`, key: other.apiKey })).statusCode, 404);
      });
    });
  }
}

describe('graceful shutdown with streams nobody reads', () => {
  test('app.close() waits for a background stream to finish; its reply is stored complete', async () => {
    const f = await createChatFixture();
    try {
      const base = await f.t.listen();
      const { apiKey, id: userId } = await f.t.createUser();
      const abort = new AbortController();
      const res = await fetch(`${base}/chat/stream`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ message: '[[words:20]] [[chunk-delay:20]] go', background: true }),
        signal: abort.signal,
      });
      const seen = await readSse(res, { stopAfter: 2, abort });
      const conversationId = seen[0]!.data.conversation_id as string;
      await f.t.app.close();
      assert.ok(await f.t.storage.conversations.get(userId, conversationId));
      const { data } = await f.t.storage.messages.list(conversationId, { limit: 10 });
      const reply = data.find((m) => m.role === 'assistant');
      assert.equal(reply?.status, 'complete');
      assert.equal(reply?.content?.split(' ').length, 20);
      assert.equal(f.fake.counters.abortedStreams, 0);
    } finally {
      await f.close();
    }
  });
});
