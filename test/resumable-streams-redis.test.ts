import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { startFakeOpenAI, type FakeOpenAI } from '../src/fake-openai/server.js';
import { createUserKey } from './helpers/admin.js';
import { startCutProxy } from './helpers/cut-proxy.js';
import { redisKeyPrefix, TEST_DATABASES } from './helpers/databases.js';
import { startServerProcess, type ServerProcess } from './helpers/server-process.js';
import { readSse, until, type SseEvent } from './helpers/sse-events.js';

const REDIS = process.env.TEST_REDIS_URL;
const joined = (events: SseEvent[]) =>
  events
    .map((e) => e.data?.content)
    .filter((c): c is string => typeof c === 'string')
    .join('');
const ids = (events: SseEvent[]) => events.map((e) => e.id);
const oneToN = (events: SseEvent[]) => events.map((_, i) => i + 1);

for (const db of TEST_DATABASES) {
  describe(`resumable streams across two instances sharing ${db.name} and Redis`, { skip: !REDIS && 'TEST_REDIS_URL not set' }, () => {
    let fake: FakeOpenAI;
    let database: Awaited<ReturnType<typeof db.create>>;
    let env: Record<string, string>;
    let a: ServerProcess;
    let b: ServerProcess;
    let key: string;
    before(async () => {
      fake = await startFakeOpenAI();
      database = await db.create();
      env = {
        DATABASE_URL: database.url,
        REDIS_URL: REDIS!,
        REDIS_KEY_PREFIX: redisKeyPrefix(),
        OPENAI_BASE_URL: fake.url,
        OPENAI_API_KEY: 'sk-test',
        STREAM_LEASE_SECONDS: '1',
        STREAM_RESUME_GRACE_SECONDS: '0.3',
        RATE_LIMIT_PER_MINUTE: '10000',
      };
      a = await startServerProcess(env);
      b = await startServerProcess(env);
      key = await createUserKey({ DATABASE_URL: database.url }, 'streams');
    });
    after(async () => {
      await Promise.all([a, b].map((s) => s?.stop()));
      await fake.close();
      await database.drop();
    });

    const start = (at: ServerProcess, body: unknown, abort?: AbortController, path = '/chat/stream') =>
      fetch(`${at.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        ...(abort && { signal: abort.signal }),
      });
    const resume = (at: ServerProcess, id: string, after = 0) =>
      fetch(`${at.url}/streams/${id}`, { headers: { authorization: `Bearer ${key}`, 'last-event-id': String(after) } });
    const messagesOf = async (at: ServerProcess, id: string) =>
      ((await (await fetch(`${at.url}/conversations/${id}/messages`, { headers: { authorization: `Bearer ${key}` } })).json()) as {
        data: Array<{ role: string; content: string; status: string }>;
      }).data;
    const reply = (at: ServerProcess, id: string, status?: string) =>
      until(async () => (await messagesOf(at, id)).find((m) => m.role === 'assistant' && (!status || m.status === status)), 'the stored reply');
    async function leaveAfter(at: ServerProcess, body: unknown, n: number, path?: string) {
      const abort = new AbortController();
      const res = await start(at, body, abort, path);
      assert.equal(res.status, 200);
      const seen = await readSse(res, { stopAfter: n, abort });
      const first = seen[0]!.data as { conversation_id: string; stream_id: string };
      return { seen, conversationId: first.conversation_id, streamId: first.stream_id };
    }

    test('disconnect from one instance after 3 events, reconnect to the other with Last-Event-ID: 3 → exactly the remaining events', async () => {
      const { seen, conversationId, streamId } = await leaveAfter(a, { message: '[[words:40]] [[chunk-delay:20]] go', resumable: true }, 3);
      const rest = await readSse(await resume(b, streamId, 3));
      const all = [...seen, ...rest];
      assert.deepEqual(ids(all), oneToN(all), 'no event lost or repeated');
      assert.equal(rest.at(-1)!.data, '[DONE]');
      const stored = await reply(b, conversationId);
      assert.equal(stored.status, 'complete');
      assert.equal(joined(all), stored.content);
      assert.equal(stored.content.split(' ').length, 40);
    });

    test('a reader on the other instance keeps a resumable stream alive past its grace', async () => {
      // The original leaves at once; the grace (0.3 s) is far shorter than the stream (~2 s).
      const { seen, conversationId, streamId } = await leaveAfter(a, { message: '[[words:100]] [[chunk-delay:20]] go', resumable: true }, 2);
      const rest = await readSse(await resume(b, streamId, 2));
      const all = [...seen, ...rest];
      assert.deepEqual(ids(all), oneToN(all));
      assert.equal(rest.at(-1)!.data, '[DONE]');
      const stored = await reply(a, conversationId);
      assert.equal(stored.status, 'complete');
      assert.equal(joined(all), stored.content);
    });

    test('a stream produced on one instance is cancelled from the other', async () => {
      const before = fake.counters.abortedStreams;
      const { conversationId, streamId } = await leaveAfter(a, { message: '[[words:300]] [[chunk-delay:20]] go', background: true }, 2);
      const cancel = await fetch(`${b.url}/streams/${streamId}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${key}` } });
      assert.deepEqual(await cancel.json(), { stream_id: streamId, cancelled: true });
      await fake.waitFor((c) => c.abortedStreams === before + 1, 10_000);
      const stored = await reply(b, conversationId, 'incomplete');
      const replay = await readSse(await resume(b, streamId));
      assert.notEqual(replay.at(-1)!.data, '[DONE]');
      assert.equal(joined(replay), stored.content);
    });

    test('the producing process SIGKILLed mid-stream → a reader on the other instance gets stream_lost; the reply is stored incomplete with every delta it saw', async () => {
      const victim = await startServerProcess(env);
      try {
        const { conversationId, streamId } = await leaveAfter(victim, { message: '[[words:2000]] [[chunk-delay:20]] go', background: true }, 1);
        const res = await resume(b, streamId);
        assert.equal(res.status, 200);
        const reading = readSse(res);
        // Let the reader on b see some deltas, then kill the producer without a chance to clean up.
        await until(async () => ((await messagesOf(b, conversationId)).length > 0 ? true : undefined), 'the turn');
        await new Promise((r) => setTimeout(r, 300));
        victim.child.kill('SIGKILL');
        await victim.exited;
        const seen = await reading;
        const last = seen.at(-1)!.data as { error?: string; code?: string };
        assert.equal(last.code, 'stream_lost');
        assert.ok(last.error);
        assert.deepEqual(ids(seen), oneToN(seen));
        const content = joined(seen);
        assert.ok(content.length > 0, 'the reader saw deltas before the kill');
        const stored = await reply(b, conversationId);
        assert.equal(stored.status, 'incomplete');
        assert.equal(stored.content, content);
        // The log stays readable, ending the same way, from either instance.
        const replay = await readSse(await resume(a, streamId));
        assert.deepEqual(replay, seen);
      } finally {
        await victim.stop('SIGKILL');
      }
    });

    // The agent's answer comes after a tool call: the settling instance names it by its step.
    for (const [path, message] of [
      ['/chat/stream', '[[words:20]] go'],
      ['/agent/stream', '[[tool:list_tasks]] go'],
    ] as const) {
      test(`${path}: a producer that stored its reply and lost Redis before logging its end → settled as lost elsewhere, the reply stored once`, async () => {
        // The producer reaches Redis through a proxy that cuts it off for good at the usage event's
        // XADD: its reply is stored (stored before the stream says it is done), its end never logged.
        const proxy = await startCutProxy(REDIS!);
        const victim = await startServerProcess({ ...env, REDIS_URL: proxy.url });
        try {
          const cut = proxy.cutOn('{"usage":{');
          const { conversationId, streamId } = await leaveAfter(victim, { message, background: true }, 1, path);
          await cut;
          const seen = await readSse(await resume(b, streamId));
          assert.equal((seen.at(-1)!.data as { code?: string }).code, 'stream_lost');
          assert.ok(!seen.some((e) => e.data?.usage), 'the usage event never reached the log');
          const replies = (await messagesOf(b, conversationId)).filter((m) => m.role === 'assistant' && m.content);
          assert.ok(joined(seen).length > 0);
          assert.deepEqual(
            replies.map((m) => [m.status, m.content]),
            [['complete', joined(seen)]],
            'one copy: the one its producer stored',
          );
        } finally {
          await victim.stop('SIGKILL');
          await proxy.close();
        }
      });
    }

    test('the only instance SIGKILLed mid-stream → the next one to start settles it: its reader gets stream_lost, the reply is incomplete', async () => {
      // A key prefix of its own: a and b never see this stream, so nobody is left to settle it but Redis.
      const alone = { ...env, REDIS_KEY_PREFIX: redisKeyPrefix() };
      const victim = await startServerProcess(alone);
      let next: ServerProcess | undefined;
      try {
        const { seen: before, conversationId, streamId } = await leaveAfter(victim, { message: '[[words:2000]] [[chunk-delay:20]] go', background: true }, 4);
        victim.child.kill('SIGKILL');
        await victim.exited;
        next = await startServerProcess(alone);
        const seen = await readSse(await resume(next, streamId));
        assert.equal((seen.at(-1)!.data as { code?: string }).code, 'stream_lost');
        assert.deepEqual(ids(seen), oneToN(seen));
        assert.deepEqual(seen.slice(0, before.length), before);
        const stored = await reply(next, conversationId);
        assert.equal(stored.status, 'incomplete');
        assert.equal(stored.content, joined(seen));
      } finally {
        await victim.stop('SIGKILL');
        await next?.stop();
      }
    });

    test(
      'the instance settling a lost stream SIGKILLed mid-settle → another claims it once the claim lapses and ends it',
      { skip: db.name !== 'postgres' && 'holds the settler with a PostgreSQL row lock', timeout: 120_000 },
      async () => {
        const keyPrefix = redisKeyPrefix();
        const alone = { ...env, REDIS_KEY_PREFIX: keyPrefix };
        const redis = new Redis(REDIS!);
        const lock = new pg.Client({ connectionString: database.url });
        lock.on('error', () => {}); // dropped with the database when the test ends
        await lock.connect();
        const processes: ServerProcess[] = [];
        const started = async () => {
          const p = await startServerProcess(alone);
          processes.push(p);
          return p;
        };
        try {
          const victim = await started();
          const { seen: before, conversationId, streamId } = await leaveAfter(victim, { message: '[[words:2000]] [[chunk-delay:20]] go', background: true }, 4);
          // The settler stores the reply after touching the conversation's row: a lock on it holds the settler there.
          await lock.query('BEGIN');
          await lock.query('SELECT id FROM conversations WHERE id = $1 FOR UPDATE', [conversationId]);
          victim.child.kill('SIGKILL');
          await victim.exited;
          const settler = await started();
          await until(async () => ((await redis.exists(`${keyPrefix}stream:{${streamId}}:claim`)) === 1 ? true : undefined), 'the claim');
          settler.child.kill('SIGKILL');
          await settler.exited;
          await lock.query('ROLLBACK');
          const next = await started();
          const seen = await readSse(await resume(next, streamId));
          assert.equal((seen.at(-1)!.data as { code?: string }).code, 'stream_lost');
          assert.deepEqual(seen.slice(0, before.length), before);
          const replies = (await messagesOf(next, conversationId)).filter((m) => m.role === 'assistant');
          assert.deepEqual(
            replies.map((m) => [m.status, m.content]),
            [['incomplete', joined(seen)]],
          );
        } finally {
          await lock.end();
          redis.disconnect();
          await Promise.all(processes.map((p) => p.stop('SIGKILL')));
        }
      },
    );
  });
}
