/**
 * Background responses across two server processes sharing the database and Redis: replay
 * and cancel from the other instance, and the producing process SIGKILLed mid-response (the
 * lost-stream handler of kind 'response').
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAI, type FakeOpenAI } from '../src/fake-openai/server.js';
import { createUserKey } from './helpers/admin.js';
import { redisKeyPrefix, TEST_DATABASES } from './helpers/databases.js';
import { startServerProcess, type ServerProcess } from './helpers/server-process.js';
import { readSse, until, type SseEvent } from './helpers/sse-events.js';

const REDIS = process.env.TEST_REDIS_URL;
const deltas = (events: SseEvent[]) =>
  events
    .filter((e) => e.data?.type === 'response.output_text.delta')
    .map((e) => e.data.delta as string)
    .join('');

for (const db of TEST_DATABASES) {
  describe(`background /v1/responses across two instances sharing ${db.name} and Redis`, { skip: !REDIS && 'TEST_REDIS_URL not set' }, () => {
    let fake: FakeOpenAI;
    let database: Awaited<ReturnType<typeof db.create>>;
    let env: Record<string, string>;
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
        RATE_LIMIT_PER_MINUTE: '10000',
      };
      b = await startServerProcess(env);
      key = await createUserKey({ DATABASE_URL: database.url }, 'responses');
    });
    after(async () => {
      await b?.stop();
      await fake.close();
      await database.drop();
    });

    const headers = () => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });
    const create = async (at: ServerProcess, input: string) => {
      const res = await fetch(`${at.url}/v1/responses`, { method: 'POST', headers: headers(), body: JSON.stringify({ model: 'gpt-4o-mini', input, background: true }) });
      assert.equal(res.status, 200);
      return (await res.json()) as { id: string };
    };
    const retrieve = async (at: ServerProcess, id: string) =>
      (await (await fetch(`${at.url}/v1/responses/${id}`, { headers: headers() })).json()) as { status: string; output: Array<{ content?: Array<{ text: string }> }> };

    test('the producing process SIGKILLed mid-response → a reader on the other instance gets response.failed (stream_lost); the response is stored incomplete with every delta it saw', async () => {
      const victim = await startServerProcess(env);
      try {
        const { id } = await create(victim, '[[words:2000]] [[chunk-delay:20]] go');
        await until(async () => ((await retrieve(b, id)).status === 'in_progress' ? true : undefined), 'in progress');
        const res = await fetch(`${b.url}/v1/responses/${id}?stream=true`, { headers: headers() });
        assert.equal(res.status, 200);
        const reading = readSse(res);
        await new Promise((r) => setTimeout(r, 500));
        victim.child.kill('SIGKILL');
        await victim.exited;
        const seen = await reading;
        const last = seen.at(-1)!.data as { type: string; sequence_number: number; response: { error: { code: string } } };
        assert.equal(last.type, 'response.failed');
        assert.equal(last.response.error.code, 'stream_lost');
        assert.deepEqual(
          seen.map((e) => e.data.sequence_number),
          seen.map((_, i) => i),
          'sequence numbers 0..n, the lost event last',
        );
        const text = deltas(seen);
        assert.ok(text.startsWith('w1 w2'), text.slice(0, 20));
        const stored = await retrieve(b, id);
        assert.equal(stored.status, 'incomplete');
        assert.equal(stored.output[0]?.content?.[0]?.text, text);
      } finally {
        await victim.stop('SIGKILL');
      }
    });

    test('replay with starting_after and cancel work from the instance that does not run it', async () => {
      const a = await startServerProcess(env);
      try {
        const { id } = await create(a, '[[words:2000]] [[chunk-delay:20]] go');
        await until(async () => ((await retrieve(b, id)).status === 'in_progress' ? true : undefined), 'in progress');
        const reading = readSse(await fetch(`${b.url}/v1/responses/${id}?stream=true&starting_after=2`, { headers: headers() }));
        await new Promise((r) => setTimeout(r, 300));
        const cancelled = await fetch(`${b.url}/v1/responses/${id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${key}` } });
        assert.equal(((await cancelled.json()) as { status: string }).status, 'cancelled');
        const seen = await reading;
        assert.equal(seen[0]!.data.sequence_number, 3);
        // The reader's last event is the cancelled response, logged in Redis before the log ended.
        const last = seen.at(-1)!.data as { type: string; sequence_number: number; response: { status: string } };
        assert.equal(last.type, 'response.cancelled');
        assert.equal(last.sequence_number, seen.at(-2)!.data.sequence_number + 1);
        assert.equal(last.response.status, 'cancelled');
        const resumed = await readSse(await fetch(`${a.url}/v1/responses/${id}?stream=true&starting_after=${last.sequence_number - 1}`, { headers: headers() }));
        assert.deepEqual(resumed.map((e) => e.data.type), ['response.cancelled']);
        await fake.waitFor((c) => c.abortedStreams >= 1, 5000);
        const stored = await until(async () => {
          const r = await retrieve(b, id);
          return r.output.length ? r : undefined;
        }, 'the kept text');
        assert.equal(stored.status, 'cancelled');
        assert.ok(stored.output[0]?.content?.[0]?.text.startsWith('w1 w2'));
      } finally {
        await a.stop();
      }
    });
  });
}
