import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { perTurnPipeline } from '../src/limits/redis-connection.js';

const REDIS = process.env.TEST_REDIS_URL;

describe('perTurnPipeline (real Redis)', { skip: !REDIS && 'TEST_REDIS_URL not set' }, () => {
  let client: Redis;
  let pipelines = 0;
  const key = (name: string) => `oab-test:${process.pid}:${randomBytes(4).toString('hex')}:${name}`;
  before(async () => {
    client = new Redis(REDIS!, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 1000 });
    await client.connect();
    const pipeline = client.pipeline.bind(client);
    client.pipeline = ((...args: Parameters<typeof pipeline>) => (pipelines++, pipeline(...args))) as typeof client.pipeline;
  });
  after(() => client.quit());

  test('the calls of one event-loop turn go in one pipeline, each with its own reply or error', async () => {
    const standIn = perTurnPipeline(client);
    standIn.defineCommand('oabIncr', { numberOfKeys: 1, lua: "if ARGV[1] == 'fail' then return redis.error_reply('asked to fail') end return redis.call('INCRBY', KEYS[1], ARGV[1])" });
    const a = key('a');
    const b = key('b');
    pipelines = 0;
    const replies = await Promise.allSettled([standIn.call('oabIncr', a, 1), standIn.call('oabIncr', a, 2), standIn.call('oabIncr', b, 'fail'), standIn.call('oabIncr', b, 5)]);
    assert.equal(pipelines, 1, 'one pipeline for the turn');
    assert.deepEqual(replies.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)), [1, 3, 'asked to fail', 5]);
    // A later turn gets a pipeline of its own; built-in commands go in the same pipeline.
    const [incremented, read] = await Promise.all([standIn.call('oabIncr', a, 10), standIn.call('get', a)]);
    assert.deepEqual([incremented, read], [13, '13']);
    assert.equal(pipelines, 2);
    await assert.rejects(standIn.call('oabIncr', b, 'fail'), /asked to fail/);
    await client.del(a, b);
  });

  test('with Redis gone, every call gets the error', async () => {
    const gone = new Redis(REDIS!, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    await gone.connect();
    gone.disconnect();
    const standIn = perTurnPipeline(gone);
    standIn.defineCommand('oabGet', { numberOfKeys: 1, lua: "return redis.call('GET', KEYS[1])" });
    const replies = await Promise.allSettled([standIn.call('oabGet', key('x')), standIn.call('oabGet', key('y'))]);
    assert.deepEqual(replies.map((r) => r.status), ['rejected', 'rejected']);
  });
});
