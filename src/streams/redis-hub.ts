import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import { NotFoundError, StreamExpiredError } from '../errors.js';
import { perTurnPipeline, type RedisConnection } from '../limits/redis-connection.js';
import { newId } from '../shared/ids.js';
import { cancelled, LocalLog, RunningProducers } from './local-log.js';
import type { HubOptions } from './memory-hub.js';
import type { LoggedEvent, LostStreamHandler, StreamHub, StreamKind, StreamPolicy, StreamProducer, StreamSpec } from './stream-hub.js';

export interface RedisHubOptions extends HubOptions {
  /** STREAM_LEASE_SECONDS, in ms. */
  leaseMs: number;
  /** REDIS_KEY_PREFIX. */
  keyPrefix: string;
  log?: FastifyBaseLogger | undefined;
}

/** A runaway stream stops growing its log here (XADD MAXLEN ~): far beyond any reply of OPENAI_MAX_TOKENS. */
const MAX_EVENTS = 100_000;
/** Entries per XREAD / XRANGE page. */
const PAGE = 1000;
/** How long one XREAD blocks when nothing arrives; a new stream to follow interrupts it at once (CLIENT UNBLOCK). */
const BLOCK_MS = 10_000;

/**
 * Ends a log atomically, whoever ends it (its producer, or the instance settling a lost
 * stream): an optional last event, then the end marker, one after the log's current last
 * entry; keys expire after the retention (the ownership record twice as late, so a reader
 * told 410 is told so for as long again). Returns -1 when the log had already ended.
 * KEYS: log, meta, lease, running, readers. ARGV: id, data ('' for none), event name ('' for none), retention ms.
 */
const END_LOG = `
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local seq = 0
if #last > 0 then
  seq = tonumber(string.match(last[1][1], '^(%d+)'))
  local fields = last[1][2]
  for i = 1, #fields, 2 do if fields[i] == 'end' then return -1 end end
end
if ARGV[2] ~= '' then
  seq = seq + 1
  if ARGV[3] ~= '' then
    redis.call('XADD', KEYS[1], seq .. '-0', 'd', ARGV[2], 'e', ARGV[3])
  else
    redis.call('XADD', KEYS[1], seq .. '-0', 'd', ARGV[2])
  end
end
redis.call('XADD', KEYS[1], (seq + 1) .. '-0', 'end', '1')
redis.call('HSET', KEYS[2], 'ended', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], 2 * tonumber(ARGV[4]))
redis.call('DEL', KEYS[3], KEYS[5])
redis.call('ZREM', KEYS[4], ARGV[1])
return seq`;

/** Lua: `now`, Redis' own clock in ms, so that instances on any host agree. */
const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * Renews a producer's lease, unless another instance has claimed the stream as lost or
 * ended it so (0: the producer must stop). The running set's score is the lease's end in
 * Redis time, so sweepers on any host agree. KEYS: lease, claim, running, log, meta. ARGV: instance, lease ms, id, keep ms.
 */
const RENEW_LEASE = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('HGET', KEYS[5], 'ended') == '1' then return 0 end
${NOW_MS}
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[4], ARGV[4])
redis.call('PEXPIRE', KEYS[5], ARGV[4])
return 1`;

/** Streams whose lease ended by now (Redis time). KEYS: running. ARGV: how many. */
const EXPIRED_LEASES = `
${NOW_MS}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[1])`;

/**
 * Claims a lost stream, across instances: only when its lease is gone, it has not ended and
 * no live claim holds it (1: ours to settle). The claim lasts a lease period, renewed while
 * its holder settles, and the stream's running-set score follows it: a holder that dies
 * mid-settle leaves the stream to be found and claimed again once the claim lapses, so it
 * is never left unended. An ended or expired stream leaves the running set (-1).
 * KEYS: lease, claim, meta, running. ARGV: instance, claim ms, id.
 */
const CLAIM_LOST = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[3]) == 0 or redis.call('HGET', KEYS[3], 'ended') == '1' then
  redis.call('ZREM', KEYS[4], ARGV[3])
  return -1
end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
${NOW_MS}
redis.call('ZADD', KEYS[4], 'XX', now + tonumber(ARGV[2]), ARGV[3])
return 1`;

/** Extends our claim while we settle (0: it lapsed, and may be another's now). KEYS: claim, running. ARGV: instance, claim ms, id. */
const RENEW_CLAIM = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
${NOW_MS}
redis.call('ZADD', KEYS[2], 'XX', now + tonumber(ARGV[2]), ARGV[3])
return 1`;

/** A reader elsewhere is here for `ttl` more ms (Redis time). KEYS: readers. ARGV: token, ttl ms. */
const READER_PRESENT = `
${NOW_MS}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

/** How many readers are present now. KEYS: readers. */
const READERS_PRESENT = `
${NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])`;

type Entry = [id: string, fields: string[]];

/** A log entry as readers get it, or null for the end marker. */
function toEvent([id, fields]: Entry): LoggedEvent | null {
  let data: string | undefined;
  let event: string | undefined;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i];
    if (name === 'end') return null;
    if (name === 'd') data = fields[i + 1];
    else if (name === 'e') event = fields[i + 1];
  }
  const seq = Number(id.slice(0, id.indexOf('-')));
  return event === undefined ? { seq, data: data ?? '' } : { seq, event, data: data ?? '' };
}

/** One local reader of a stream produced elsewhere, fed by the follower. */
interface RemoteReader {
  seq: number;
  queue: Array<LoggedEvent | null>;
  wake: (() => void) | undefined;
}

/**
 * The Redis Streams hub (REDIS_URL): every event goes into a Redis Stream (`XADD`, the
 * entry id is the seq, so two writers can never interleave), and any instance serves any
 * reader.
 * - Readers of a stream produced on this instance follow its events in memory (each event
 *   only once Redis has acknowledged it), so the default path costs one XADD per event and
 *   no read from Redis.
 * - Readers of a stream produced elsewhere replay with XRANGE, then are fed by ONE
 *   blocking follower connection per instance that XREADs every stream followed here at
 *   once; a new stream to follow interrupts its block (CLIENT UNBLOCK). They hold no
 *   connection or timer each; their presence (for the producer's resume grace) is one
 *   sorted-set entry, refreshed for all of them by one timer.
 * - The producer holds a lease (STREAM_LEASE_SECONDS), renewed for all of this instance's
 *   producers by one timer. A sweeper on every instance finds streams whose lease ran out
 *   with no end, claims each (Lua, SET NX, for a lease period renewed while it settles, so
 *   a claimer that dies leaves it to the next), lets the kind's LostStreamHandler store the
 *   reply from the logged events (idempotently: it may run twice), and ends the log with
 *   the kind's lost event.
 * - Cancel from any instance: PUBLISH on one channel every instance listens to.
 * - Ended logs expire STREAM_RETENTION_SECONDS after their end; the small ownership record
 *   twice as late, so a late reader gets 410 rather than 404 meanwhile.
 */
export function redisStreamHub(redis: RedisConnection, options: RedisHubOptions): StreamHub {
  // Its own connection for log writes and reads: a slower timeout than the limiter's 1 s (a log write that
  // times out cuts a stream, so it may wait out a busy moment), and no queueing behind the limiter's pipelines.
  const client: Redis = redis.client.duplicate({ lazyConnect: true, enableOfflineQueue: true, commandTimeout: 10_000 });
  client.on('error', (error: unknown) => redis.reportFailure(error));
  const connected = client.connect().catch((error: unknown) => redis.reportFailure(error));
  const instance = randomUUID();
  const prefix = `${options.keyPrefix}stream:`;
  const keys = (id: string) => {
    const base = `${prefix}{${id}}`;
    return {
      log: `${base}:log`,
      meta: `${base}:meta`,
      lease: `${base}:lease`,
      claim: `${base}:claim`,
      readers: `${base}:readers`,
    };
  };
  const runningKey = `${options.keyPrefix}streams:running`;
  const cancelChannel = `${options.keyPrefix}streams:cancel`;
  const keepMs = 2 * options.retentionMs + 3 * options.leaseMs;
  const presenceTtlMs = Math.max(3 * options.leaseMs, 3000);
  const pipeline = perTurnPipeline(client);
  for (const [name, lua, numberOfKeys] of [
    ['streamEndLog', END_LOG, 5],
    ['streamRenewLease', RENEW_LEASE, 5],
    ['streamExpiredLeases', EXPIRED_LEASES, 1],
    ['streamClaimLost', CLAIM_LOST, 4],
    ['streamRenewClaim', RENEW_CLAIM, 2],
    ['streamReaderPresent', READER_PRESENT, 1],
    ['streamReadersPresent', READERS_PRESENT, 1],
  ] as const) {
    pipeline.defineCommand(name, { lua, numberOfKeys });
  }
  const call = (name: string, ...args: Array<string | number>) => pipeline.call(name, ...args);
  const warn = (error: unknown, message: string) => {
    redis.reportFailure(error);
    options.log?.warn({ err: error instanceof Error ? { message: error.message } : String(error) }, message);
  };

  const handlers = new Map<StreamKind, LostStreamHandler>();
  const local = new Map<string, LocalLog>();
  const running = new RunningProducers(options.shutdownSignal);
  const rules = {
    graceMs: options.graceMs,
    remoteReaders: async (id: string) => Number(await call('streamReadersPresent', keys(id).readers)) > 0,
  };

  // --- leases: one timer renews every producer of this instance --------------------
  const renewEvery = Math.max(Math.floor(options.leaseMs / 3), 20);
  const renew = (log: LocalLog) => {
    const k = keys(log.id);
    return call('streamRenewLease', k.lease, k.claim, runningKey, k.log, k.meta, instance, options.leaseMs, log.id, keepMs).then(
      (kept) => {
        // Claimed as lost by another instance (we stalled past the lease): stop producing.
        if (Number(kept) === 0) log.controller.abort(new Error('stream claimed as lost by another instance'));
      },
      (error: unknown) => warn(error, 'renewing a stream lease failed'),
    );
  };
  const renewer = setInterval(() => {
    for (const log of local.values()) if (!log.ended) void renew(log);
  }, renewEvery);
  renewer.unref();

  // --- the sweeper: settles streams whose producer died ------------------------------
  const sweepEvery = Math.max(Math.floor(options.leaseMs / 4), 50);
  /** Claim renewals of the streams this instance is settling (one at a time: the sweep settles in turn). */
  const settling = new Set<NodeJS.Timeout>();
  let sweeping = false;
  const sweeper = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    sweep()
      .catch((error: unknown) => warn(error, 'sweeping for lost streams failed'))
      .finally(() => (sweeping = false));
  }, sweepEvery);
  sweeper.unref();

  async function sweep(): Promise<void> {
    const ids = (await call('streamExpiredLeases', runningKey, 20)) as string[];
    for (const id of ids) {
      if (closed) return;
      if (local.has(id)) continue; // ours and alive: its renewal is only late
      const k = keys(id);
      if (Number(await call('streamClaimLost', k.lease, k.claim, k.meta, runningKey, instance, options.leaseMs, id)) === 1) await settleLost(id);
    }
  }

  /** Settles one claimed stream, renewing the claim meanwhile. Idempotent (the handlers store by identity): it may run again elsewhere. */
  async function settleLost(id: string): Promise<void> {
    const k = keys(id);
    const holding = setInterval(() => {
      void call('streamRenewClaim', k.claim, runningKey, instance, options.leaseMs, id).catch((error: unknown) => warn(error, 'renewing a lost-stream claim failed'));
    }, renewEvery);
    settling.add(holding);
    try {
      await settleClaimed(id);
    } finally {
      clearInterval(holding);
      settling.delete(holding);
    }
  }

  async function settleClaimed(id: string): Promise<void> {
    const k = keys(id);
    const spec = specOf(await client.hgetall(k.meta));
    const events: LoggedEvent[] = [];
    for await (const event of replay(id, 0)) events.push(event);
    const lastSeq = events.at(-1)?.seq ?? 0;
    let lost: { data: string; event?: string } = {
      data: JSON.stringify({ error: 'The instance producing this stream stopped before it ended', code: 'stream_lost' }),
    };
    if (spec) {
      const handler = handlers.get(spec.kind);
      if (handler) {
        try {
          await handler.settle(spec, events);
        } catch (error) {
          options.log?.error({ err: error, stream_id: id }, 'settling a lost stream failed');
        }
        lost = handler.lostEvent(spec, lastSeq);
      }
    }
    await call('streamEndLog', k.log, k.meta, k.lease, runningKey, k.readers, id, lost.data, lost.event ?? '', options.retentionMs);
    options.log?.warn({ stream_id: id, events: lastSeq }, 'stream lost: its producer stopped renewing its lease; ended with stream_lost');
  }

  // --- cancel: one channel, every instance listens -----------------------------------
  const subscriber = client.duplicate({ lazyConnect: true, enableOfflineQueue: true, commandTimeout: undefined });
  subscriber.on('error', (error: unknown) => redis.reportFailure(error));
  subscriber.on('message', (_channel: string, id: string) => local.get(id)?.controller.abort(cancelled()));
  const subscribed = subscriber
    .connect()
    .then(() => subscriber.subscribe(cancelChannel))
    .catch((error: unknown) => warn(error, 'subscribing to stream cancels failed'));

  // --- the follower: one blocking connection for every stream followed here ---------
  const follower = client.duplicate({ lazyConnect: true, enableOfflineQueue: true, commandTimeout: undefined, maxRetriesPerRequest: null });
  follower.on('error', (error: unknown) => redis.reportFailure(error));
  let followerId: number | undefined;
  // After a reconnect the follower is another client: learn its id again (for CLIENT UNBLOCK).
  follower.on('ready', () => {
    follower.client('ID').then(
      (id) => (followerId = Number(id)),
      () => {},
    );
  });
  /** Streams followed here, by log key: their meta key, the lowest seq any of their readers still needs, the readers. */
  const followed = new Map<string, { key: string; meta: string; seq: number; readers: Set<RemoteReader> }>();
  let closed = false;
  let blocked = false;
  let idle: (() => void) | undefined;
  let following: Promise<void> | undefined;

  let generation = 0;
  let blockedGeneration = -1;
  let unblockRetry: NodeJS.Timeout | undefined;
  /**
   * The follower's block no longer covers what is followed: interrupt it (or wake it when
   * idle). An UNBLOCK can overtake the XREAD it targets (two connections), so it is sent
   * again shortly after while that same XREAD still blocks.
   */
  function refollow(): void {
    generation++;
    idle?.();
    const unblock = () => {
      if (blocked && blockedGeneration < generation && followerId !== undefined) void client.client('UNBLOCK', followerId).catch(() => {});
    };
    unblock();
    clearTimeout(unblockRetry);
    unblockRetry = setTimeout(unblock, 25);
  }

  let vanishCheckedAt = 0;
  async function followLoop(): Promise<void> {
    try {
      await follower.connect();
      followerId = Number(await follower.client('ID'));
    } catch (error) {
      warn(error, 'connecting the stream follower failed');
    }
    while (!closed) {
      if (followed.size === 0) {
        await new Promise<void>((resolve) => (idle = resolve));
        idle = undefined;
        continue;
      }
      const streams = [...followed.entries()];
      let reply: Array<[string, Entry[]]> | null;
      try {
        blocked = true;
        blockedGeneration = generation;
        reply = (await follower.xread(
          'COUNT',
          PAGE,
          'BLOCK',
          BLOCK_MS,
          'STREAMS',
          ...streams.map(([, s]) => s.key),
          ...streams.map(([, s]) => `${s.seq}-0`),
        )) as Array<[string, Entry[]]> | null;
      } catch (error) {
        if (closed) return;
        warn(error, 'following streams failed; retrying');
        await new Promise((r) => setTimeout(r, 200));
        continue;
      } finally {
        blocked = false;
      }
      // Quiet streams are looked at when a block runs out, and at least every BLOCK_MS while others keep it busy.
      if (reply === null || Date.now() - vanishCheckedAt >= BLOCK_MS) {
        vanishCheckedAt = Date.now();
        const active = new Set(reply?.map(([key]) => key));
        await endVanished(streams.map(([, s]) => s).filter((s) => !active.has(s.key)));
      }
      for (const [key, entries] of reply ?? []) {
        const stream = followed.get(key);
        if (!stream) continue;
        for (const entry of entries) {
          const event = toEvent(entry);
          const seq = event ? event.seq : Number(entry[0].slice(0, entry[0].indexOf('-')));
          stream.seq = Math.max(stream.seq, seq);
          for (const reader of stream.readers) {
            if (event && event.seq <= reader.seq) continue;
            if (event) reader.seq = event.seq;
            reader.queue.push(event);
            reader.wake?.();
          }
        }
      }
    }
  }

  /**
   * Streams followed that got nothing new: any whose meta is gone (expired, or deleted by
   * hand) will never grow nor end, so its readers end here rather than wait for ever. A
   * running stream's meta lives as long as its lease is renewed.
   */
  async function endVanished(streams: Array<{ meta: string; readers: Set<RemoteReader> }>): Promise<void> {
    if (streams.length === 0) return;
    let known: Array<[unknown, number]> | null;
    try {
      known = (await streams.reduce((multi, s) => multi.exists(s.meta), client.multi()).exec()) as Array<[unknown, number]> | null;
    } catch {
      return; // asked again after the next block
    }
    streams.forEach((stream, i) => {
      if (known?.[i]?.[1] !== 0) return;
      for (const reader of stream.readers) {
        reader.queue.push(null);
        reader.wake?.();
      }
    });
  }

  // --- presence of the readers followed here, for producers' grace ------------------
  const present = new Map<RemoteReader, string>();
  const presence = setInterval(() => {
    for (const [reader, id] of present) void call('streamReaderPresent', keys(id).readers, tokenOf(reader), presenceTtlMs).catch(() => {});
  }, Math.floor(presenceTtlMs / 3));
  presence.unref();
  const tokens = new WeakMap<RemoteReader, string>();
  const tokenOf = (reader: RemoteReader) => {
    let token = tokens.get(reader);
    if (!token) tokens.set(reader, (token = `${instance}:${randomUUID()}`));
    return token;
  };

  function specOf(meta: Record<string, string>): StreamSpec | undefined {
    if (!meta['user']) return undefined;
    return {
      userId: meta['user'],
      kind: meta['kind'] as StreamKind,
      policy: meta['policy'] as StreamPolicy,
      context: JSON.parse(meta['context'] ?? '{}') as Record<string, string>,
    };
  }

  /** Throws NotFoundError / StreamExpiredError; false when the stream lives elsewhere (or ended), else its local log. */
  async function find(userId: string, id: string): Promise<LocalLog | false> {
    const log = local.get(id);
    if (log) {
      if (log.spec.userId !== userId) throw new NotFoundError('Stream');
      return log;
    }
    const k = keys(id);
    const [[, owner], [, ended], [, hasLog]] = (await client.multi().hget(k.meta, 'user').hget(k.meta, 'ended').exists(k.log).exec()) as [
      [unknown, string | null],
      [unknown, string | null],
      [unknown, number],
    ];
    if (owner !== userId) throw new NotFoundError('Stream');
    if (ended === '1' && hasLog === 0) throw new StreamExpiredError();
    return false;
  }

  /** The logged events after `after`, from Redis, in pages; stops at the end marker. */
  async function* replay(id: string, after: number): AsyncGenerator<LoggedEvent, boolean> {
    let from = `${after + 1}-0`;
    for (;;) {
      const entries = (await client.xrange(keys(id).log, from, '+', 'COUNT', PAGE)) as Entry[];
      for (const entry of entries) {
        const event = toEvent(entry);
        if (!event) return true;
        yield event;
      }
      if (entries.length < PAGE) return false;
      from = `(${entries.at(-1)![0]}`;
    }
  }

  async function* followRemote(id: string, after: number, signal: AbortSignal | undefined): AsyncGenerator<LoggedEvent> {
    let seq = after;
    const replayed = replay(id, after);
    let next: IteratorResult<LoggedEvent, boolean>;
    while (!(next = await replayed.next()).done) {
      seq = next.value.seq;
      if (signal?.aborted) return;
      yield next.value;
    }
    if (next.value) return; // ended
    // No end marker after `after`. The stream may run on, or it has ended where the replay
    // could not see it: its marker at or before `after` (a resume past the end), or its log
    // expired since `find` (the marker went with it). Following a log that will never grow
    // again would hold the reader forever: an ended (or vanished) stream is read once more
    // from where the replay stopped (what came meanwhile, up to its marker) and left.
    // The meta holds its owner while it exists (as `find` reads it): no owner, no stream.
    const [ended, owner] = await client.hmget(keys(id).meta, 'ended', 'user');
    if (ended === '1' || owner === null) {
      for await (const event of replay(id, seq)) {
        if (signal?.aborted) return;
        yield event;
      }
      return;
    }
    const reader: RemoteReader = { seq, queue: [], wake: undefined };
    const key = keys(id).log;
    let stream = followed.get(key);
    if (!stream) followed.set(key, (stream = { key, meta: keys(id).meta, seq, readers: new Set() }));
    const lowered = seq < stream.seq;
    stream.seq = Math.min(stream.seq, seq);
    const isNew = stream.readers.size === 0 || lowered;
    stream.readers.add(reader);
    present.set(reader, id);
    void call('streamReaderPresent', keys(id).readers, tokenOf(reader), presenceTtlMs).catch(() => {});
    following ??= followLoop();
    if (isNew) refollow();
    const onAbort = () => reader.wake?.();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        while (reader.queue.length > 0) {
          const event = reader.queue.shift()!;
          if (event === null || signal?.aborted) return;
          yield event;
        }
        if (signal?.aborted || closed) return;
        await new Promise<void>((resolve) => (reader.wake = resolve));
        reader.wake = undefined;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      stream.readers.delete(reader);
      if (stream.readers.size === 0) followed.delete(key);
      present.delete(reader);
      void client.zrem(keys(id).readers, tokenOf(reader)).catch(() => {});
    }
  }

  return {
    async open(spec: StreamSpec): Promise<StreamProducer> {
      const log = new LocalLog(newId(), spec, rules);
      const k = keys(log.id);
      await Promise.all([
        call('hset', k.meta, 'user', spec.userId, 'kind', spec.kind, 'policy', spec.policy, 'context', JSON.stringify(spec.context)),
        call('streamRenewLease', k.lease, k.claim, runningKey, k.log, k.meta, instance, options.leaseMs, log.id, keepMs),
      ]);
      local.set(log.id, log);
      running.add(log);
      if (options.shutdownSignal?.aborted) log.controller.abort(options.shutdownSignal.reason);
      let ending: Promise<void> | undefined;
      return {
        id: log.id,
        signal: log.controller.signal,
        async append(data: string, event?: string): Promise<number> {
          if (log.ended || ending) throw new Error(`stream ${log.id} has ended; nothing more can be appended`);
          const seq = log.lastSeq + 1;
          const fields = event === undefined ? ['d', data] : ['d', data, 'e', event];
          try {
            await call('xadd', k.log, 'MAXLEN', '~', MAX_EVENTS, `${seq}-0`, ...fields);
          } catch (error) {
            // Redis away, or the log was ended as lost by another instance: this producer is done.
            log.controller.abort(error);
            throw error;
          }
          return log.push(data, event);
        },
        end(): Promise<void> {
          ending ??= (async () => {
            try {
              await call('streamEndLog', k.log, k.meta, k.lease, runningKey, k.readers, log.id, '', '', options.retentionMs);
            } catch (error) {
              warn(error, 'ending a stream log failed; its lease will lapse and it will be settled as lost');
            } finally {
              log.finish();
              local.delete(log.id);
              running.delete(log);
            }
          })();
          return ending;
        },
      };
    },

    read(userId: string, id: string, { after, signal }: { after: number; signal?: AbortSignal }): AsyncIterable<LoggedEvent> {
      return (async function* () {
        const log = await find(userId, id);
        if (log) yield* log.follow(after, signal);
        else yield* followRemote(id, Math.max(0, Math.floor(after)), signal);
      })();
    },

    async check(userId: string, id: string): Promise<void> {
      await find(userId, id);
    },

    async cancel(userId: string, id: string): Promise<boolean> {
      const log = await find(userId, id);
      if (log) {
        if (log.ended) return false;
        log.controller.abort(cancelled());
        return true;
      }
      if ((await client.hget(keys(id).meta, 'ended')) === '1') return false;
      await client.publish(cancelChannel, id);
      return true;
    },

    onLost(kind: StreamKind, handler: LostStreamHandler): void {
      handlers.set(kind, handler);
    },

    drain: () => running.drain(),

    async close(): Promise<void> {
      closed = true;
      clearInterval(renewer);
      clearInterval(sweeper);
      for (const holding of settling) clearInterval(holding);
      clearInterval(presence);
      clearTimeout(unblockRetry);
      running.abortAll(new Error('stream hub closed'));
      for (const stream of followed.values()) for (const reader of stream.readers) reader.wake?.();
      idle?.();
      await Promise.all([subscribed, connected]);
      subscriber.disconnect();
      follower.disconnect();
      await following?.catch(() => {});
      await client.quit().catch(() => client.disconnect());
    },
  };
}
