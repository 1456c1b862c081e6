import { getHeapStatistics } from 'node:v8';
import { NotFoundError, StreamExpiredError } from '../errors.js';
import { newId } from '../shared/ids.js';
import { cancelled, LocalLog, RunningProducers } from './local-log.js';
import type { LoggedEvent, LostStreamHandler, StreamHub, StreamKind, StreamProducer, StreamSpec } from './stream-hub.js';

export interface HubOptions {
  /** STREAM_RETENTION_SECONDS, in ms: how long an ended log stays readable. */
  retentionMs: number;
  /** STREAM_RESUME_GRACE_SECONDS, in ms. */
  graceMs: number;
  /** Aborts every running producer (the shutdown grace is over). */
  shutdownSignal?: AbortSignal | undefined;
  /**
   * Estimated heap bytes the in-process hub keeps of ended logs; past it the oldest ended
   * go first (410, as after their retention). Default: a quarter of V8's heap limit.
   */
  maxEndedBytes?: number | undefined;
}

/** How often ended logs are looked at for dropping: often enough for a tiny retention, never busier than 20/s. */
export const sweepIntervalMs = (retentionMs: number) => Math.min(Math.max(retentionMs / 2, 50), 30_000);

/**
 * The in-process hub (no REDIS_URL): logs live in this process's memory, so a stream can be
 * resumed only on the instance that produces it, and dies with it (its lost-stream handlers
 * are never needed: there is nobody left to settle). An ended log is dropped
 * STREAM_RETENTION_SECONDS after its end, or earlier when the ended logs kept would pass
 * `maxEndedBytes` (oldest first); a tombstone (owner and end time) stays as long again so
 * that a late reader gets 410 rather than 404, then goes too. One sweeper timer for the
 * whole hub, none per log or reader.
 */
export function memoryStreamHub(options: HubOptions): StreamHub {
  const logs = new Map<string, LocalLog>();
  const tombstones = new Map<string, { userId: string; endedAt: number }>();
  const running = new RunningProducers(options.shutdownSignal);
  const rules = { graceMs: options.graceMs };
  const maxEndedBytes = options.maxEndedBytes ?? getHeapStatistics().heap_size_limit / 4;
  /** Ended logs still kept, oldest end first, and their estimated bytes in all. */
  const ended = new Set<LocalLog>();
  let endedBytes = 0;

  /** A log no longer readable: a tombstone (owner, end time) stays so that a late reader gets 410. */
  function drop(log: LocalLog): void {
    logs.delete(log.id);
    if (ended.delete(log)) endedBytes -= log.bytes;
    tombstones.set(log.id, { userId: log.spec.userId, endedAt: log.endedAt });
  }

  /**
   * Keeps an ended log for resuming, within the bound: the hub holds every log for the
   * retention period, so without one its memory would grow with streams per second ×
   * STREAM_RETENTION_SECONDS × their size, until the process ran out of heap.
   */
  function keepEnded(log: LocalLog): void {
    ended.add(log);
    endedBytes += log.bytes;
    for (const oldest of ended) {
      if (endedBytes <= maxEndedBytes) break;
      drop(oldest);
    }
  }

  const sweeper = setInterval(() => {
    const now = Date.now();
    // Ended logs end oldest first: the sweep stops at the first one still within its retention.
    for (const log of ended) {
      if (now - log.endedAt < options.retentionMs) break;
      drop(log);
    }
    for (const [id, tombstone] of tombstones) {
      if (now - tombstone.endedAt >= 2 * options.retentionMs) tombstones.delete(id);
    }
  }, sweepIntervalMs(options.retentionMs));
  sweeper.unref();

  /** The caller's live log, or the error a reader gets. */
  function find(userId: string, id: string): LocalLog {
    const log = logs.get(id);
    if (log && log.spec.userId === userId) {
      if (log.ended && Date.now() - log.endedAt >= options.retentionMs) throw new StreamExpiredError();
      return log;
    }
    if (tombstones.get(id)?.userId === userId) throw new StreamExpiredError();
    throw new NotFoundError('Stream');
  }

  return {
    async open(spec: StreamSpec): Promise<StreamProducer> {
      const log = new LocalLog(newId(), spec, rules);
      logs.set(log.id, log);
      running.add(log);
      if (options.shutdownSignal?.aborted) log.controller.abort(options.shutdownSignal.reason);
      return {
        id: log.id,
        signal: log.controller.signal,
        async append(data: string, event?: string): Promise<number> {
          if (log.ended) throw new Error(`stream ${log.id} has ended; nothing more can be appended`);
          return log.push(data, event);
        },
        async end(): Promise<void> {
          if (log.ended) return;
          log.finish();
          running.delete(log);
          keepEnded(log);
        },
      };
    },

    read(userId: string, id: string, { after, signal }: { after: number; signal?: AbortSignal }): AsyncIterable<LoggedEvent> {
      // Found when the iteration starts: a 404 or 410 is thrown there, as the interface says.
      return { [Symbol.asyncIterator]: () => find(userId, id).follow(after, signal) };
    },

    async check(userId: string, id: string): Promise<void> {
      find(userId, id);
    },

    async cancel(userId: string, id: string): Promise<boolean> {
      const log = find(userId, id);
      if (log.ended) return false;
      log.controller.abort(cancelled());
      return true;
    },

    // One process: a producer that dies takes its log with it, so there is never a lost stream to settle.
    onLost(_kind: StreamKind, _handler: LostStreamHandler): void {},

    drain: () => running.drain(),

    async close(): Promise<void> {
      clearInterval(sweeper);
      running.abortAll(new Error('stream hub closed'));
    },
  };
}
