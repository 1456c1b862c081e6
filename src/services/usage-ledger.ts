import type { UsageRecord, UsageRepository } from '../storage/storage.js';
import type { ModelCallObservation } from '../upstream/model-call.js';

interface Log {
  warn(object: object, message: string): void;
}

/** The UTC day of a time, as the ledger keys it: YYYY-MM-DD. */
export const utcDay = (ms = Date.now()): string => new Date(ms).toISOString().slice(0, 10);

/**
 * The usage ledger: every model call the provider answered adds its tokens and one request
 * to its user's (user, UTC day, model) row. Calls are summed in memory per row and written
 * every `flushMs` (one upsert per row, in one transaction), and at shutdown: a chat turn
 * costs a Map update instead of a database write. A crash loses at most the last
 * `flushMs` of usage; a failed write is kept and tried again with the next. With
 * `flushMs` 0 every call is written through as it finishes (bench/tenancy.ts measures both).
 * Calls with no user (a dimensions probe) are not recorded.
 */
export function usageLedger(deps: { usage: UsageRepository; flushMs: number }) {
  const { usage, flushMs } = deps;
  let pending = new Map<string, UsageRecord>();
  /** Writes in flight, so that `flush` can wait for those a write-through started. */
  const writing = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let log: Log = { warn: () => {} };

  function add(into: Map<string, UsageRecord>, r: UsageRecord): void {
    const key = `${r.userId}\0${r.day}\0${r.model}`;
    const row = into.get(key);
    if (!row) {
      into.set(key, { ...r });
      return;
    }
    row.requests += r.requests;
    row.promptTokens += r.promptTokens;
    row.completionTokens += r.completionTokens;
    row.totalTokens += r.totalTokens;
  }

  /** Writes `records`; when that fails they go back into the pending sums for the next write. */
  function write(records: UsageRecord[]): Promise<void> {
    const done = usage
      .add(records)
      .catch((error: unknown) => {
        for (const r of records) add(pending, r);
        log.warn({ err: error, rows: records.length }, 'usage ledger write failed; kept for the next one');
      })
      .finally(() => writing.delete(done));
    writing.add(done);
    return done;
  }

  /** Writes everything summed so far, and waits for writes already in flight. */
  async function flush(): Promise<void> {
    if (pending.size > 0) {
      const records = [...pending.values()];
      pending = new Map();
      void write(records);
    }
    await Promise.all([...writing]);
  }

  return {
    /** The model-call observer's half that records usage. */
    record(call: ModelCallObservation): void {
      if (call.userId === undefined) return;
      // A call that failed before an answer cost nothing; one cut off mid-stream counts what it reported.
      if (call.usage === undefined && call.outcome !== 'success') return;
      const record: UsageRecord = {
        userId: call.userId,
        day: utcDay(),
        model: call.model,
        requests: 1,
        promptTokens: call.usage?.prompt_tokens ?? 0,
        completionTokens: call.usage?.completion_tokens ?? 0,
        totalTokens: call.usage?.total_tokens ?? 0,
      };
      if (flushMs === 0) void write([record]);
      else add(pending, record);
    },

    flush,

    start(logger: Log): void {
      log = logger;
      // Written through, the timer only retries writes that failed.
      if (!timer) {
        timer = setInterval(() => void flush(), flushMs || 1000);
        timer.unref();
      }
    },

    /** Stops the timer and writes what is left. */
    async stop(): Promise<void> {
      clearInterval(timer);
      timer = undefined;
      await flush();
    },
  };
}

export type UsageLedger = ReturnType<typeof usageLedger>;
