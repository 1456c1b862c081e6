import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { connectRedis, type RedisConnection } from '../src/limits/redis-connection.js';
import { redisStreamHub } from '../src/streams/redis-hub.js';
import type { LoggedEvent, LostStreamHandler, StreamHub, StreamSpec } from '../src/streams/stream-hub.js';
import { redisKeyPrefix } from './helpers/databases.js';

const REDIS = process.env.TEST_REDIS_URL;

/**
 * The Redis hub's claim on a lost stream, against a real Redis: each hub here stands for one
 * instance (its own connection, instance id and sweeper); closing one is that instance dying.
 */
describe('settling a lost stream on Redis', { skip: !REDIS && 'TEST_REDIS_URL not set' }, () => {
  const log = pino({ level: 'silent' });
  const lost = { data: JSON.stringify({ error: 'lost', code: 'stream_lost' }) };

  async function instance(keyPrefix: string, handler?: LostStreamHandler): Promise<{ hub: StreamHub; connection: RedisConnection }> {
    const connection = await connectRedis(REDIS!, log, true);
    const hub = redisStreamHub(connection, { retentionMs: 60_000, graceMs: 1000, leaseMs: 300, keyPrefix, log });
    if (handler) hub.onLost('chat', handler);
    return { hub, connection };
  }
  const dies = async (i: { hub: StreamHub; connection: RedisConnection }) => {
    await i.hub.close();
    await i.connection.close();
  };

  test('an instance that dies between claiming a lost stream and ending it leaves it to another, which ends it', { timeout: 60_000 }, async () => {
    const keyPrefix = redisKeyPrefix();
    const spec: StreamSpec = { userId: 'u1', kind: 'chat', policy: 'background', context: { conversationId: 'c1' } };

    // The producer logs two events and dies without ending its log.
    const producing = await instance(keyPrefix);
    const producer = await producing.hub.open(spec);
    await producer.append('{"content":"a"}');
    await producer.append('{"content":"b"}');
    await dies(producing);

    // The first instance to notice claims it, and dies while settling it.
    let claimed!: () => void;
    const claim = new Promise<void>((resolve) => (claimed = resolve));
    const claimer = await instance(keyPrefix, {
      settle: () => {
        claimed();
        return new Promise(() => {});
      },
      lostEvent: () => lost,
    });
    await claim;

    const settled: LoggedEvent[][] = [];
    const survivor = await instance(keyPrefix, { settle: async (_spec, events) => void settled.push([...events]), lostEvent: () => lost });
    try {
      const reading = (async () => {
        const events: LoggedEvent[] = [];
        for await (const event of survivor.hub.read('u1', producer.id, { after: 0 })) events.push(event);
        return events;
      })();
      await dies(claimer);
      const events = await reading;
      assert.deepEqual(
        events.map((e) => e.data),
        ['{"content":"a"}', '{"content":"b"}', lost.data],
        'the reader gets the logged events, then the lost event, and its end',
      );
      assert.deepEqual(
        settled.map((run) => run.map((e) => e.data)),
        [['{"content":"a"}', '{"content":"b"}']],
        'settled again, once, with every logged event',
      );
    } finally {
      await dies(survivor);
    }
  });

  test('a reader following a stream whose keys vanish (expired, deleted) ends instead of waiting for ever', { timeout: 30_000 }, async () => {
    const keyPrefix = redisKeyPrefix();
    const spec: StreamSpec = { userId: 'u1', kind: 'chat', policy: 'background', context: {} };
    const producing = await instance(keyPrefix);
    const reading = await instance(keyPrefix);
    try {
      const producer = await producing.hub.open(spec);
      await producer.append('{"content":"a"}');
      const events: LoggedEvent[] = [];
      let resolveFirst!: () => void;
      const first = new Promise<void>((resolve) => (resolveFirst = resolve));
      const followed = (async () => {
        for await (const event of reading.hub.read('u1', producer.id, { after: 0 })) {
          events.push(event);
          resolveFirst();
        }
      })();
      await first;
      // The producer's instance goes without a word (no sweeper left) and its keys go too.
      await producing.hub.close();
      await producing.connection.close();
      const stale = await reading.connection.client.keys(`${keyPrefix}stream:{${producer.id}}:*`);
      await reading.connection.client.del(...stale);
      // Another stream followed on the reading instance interrupts its follower's block at once.
      const other = await instance(keyPrefix);
      try {
        const next = await other.hub.open(spec);
        await next.append('{"content":"b"}');
        const nextEvents = reading.hub.read('u1', next.id, { after: 0 })[Symbol.asyncIterator]();
        assert.equal((await nextEvents.next()).value?.data, '{"content":"b"}');
        const ending = nextEvents.next(); // replayed; now followed live
        await followed;
        assert.deepEqual(events.map((e) => e.data), ['{"content":"a"}']);
        await next.end();
        assert.equal((await ending).done, true, 'the live stream still ends as it should');
      } finally {
        await dies(other);
      }
    } finally {
      await dies(reading);
    }
  });
});
