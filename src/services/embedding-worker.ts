import { ProviderHttpError } from '../upstream/provider-errors.js';
import { AppError, ContextLengthExceededError, UpstreamRateLimitedError } from '../errors.js';
import { newId } from '../shared/ids.js';
import type { EmbeddingJob, Storage } from '../storage/storage.js';
import { isAbort } from '../upstream/error-mapping.js';
import type { EmbeddingModel } from '../upstream/embedding-model.js';
import { taskEmbedder, type EmbedResult } from './task-embedder.js';

/** Jobs taken per round; the model wrapper splits them further at the API's limits. */
const BATCH = 512;
/** A claimed job is not handed to another worker for this long. */
const LEASE_MS = 60_000;
/** A new job waits this long for its request's own attempt before the worker may take it. */
const INLINE_GRACE_MS = 10_000;
/** The request's own attempt gives up quickly; the worker retries with backoff. */
const INLINE_TIMEOUT_MS = 2_000;
/** First retry delay during an outage; doubles up to EMBEDDING_RETRY_MAX_MS. */
const FIRST_RETRY_MS = 100;
/** The longest upstream Retry-After the worker honours. */
const MAX_RETRY_AFTER_MS = 60_000;
/** A job the API rejects (bad input) is retried alone, at most this rarely. */
const REJECTED_RETRY_MAX_MS = 3_600_000;

interface Log {
  warn(object: object, message: string): void;
}

interface ReindexSummary {
  model: string;
  dimensions: number | null;
  /** Tasks found without a current-model embedding and queued. */
  queued: number;
  embedded: number;
  unchanged: number;
  failed: number;
  /** Still queued afterwards (failed ones, or written meanwhile). */
  pending: number;
}

/**
 * Keeps task embeddings current. Task writes queue their task (in the write's own
 * transaction) and call `indexNow`, which tries once with a short timeout; anything
 * left over — an outage, a restart, a model change — is picked up here: in batches,
 * with exponential backoff (capped by EMBEDDING_RETRY_MAX_MS) while the provider fails.
 * While backing off, writes skip their own attempt and leave the task to the next batch.
 */
export function embeddingWorker(deps: {
  storage: Storage;
  model: EmbeddingModel;
  options: { intervalMs: number; retryMaxMs: number };
}) {
  const { storage, model, options } = deps;
  const embedder = taskEmbedder({ storage, model });
  let running: Promise<void> | undefined;
  let stopping: AbortController | undefined;
  let wake: (() => void) | undefined;
  let failures = 0;
  let backingOffUntil = 0;
  let log: Log = { warn: () => {} };

  /** The time `ms` from now, as stored. */
  const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();
  const now = () => inMs(0);

  function backoff(error: unknown): number {
    let delay = Math.min(options.retryMaxMs, FIRST_RETRY_MS * 2 ** Math.min(failures - 1, 20));
    if (error instanceof UpstreamRateLimitedError) {
      delay = Math.max(delay, Math.min(MAX_RETRY_AFTER_MS, Number(error.headers['retry-after']) * 1000 || 0));
    }
    return delay;
  }

  /** Queues tasks embedded with another model or size, or never embedded. */
  async function sweep(): Promise<number> {
    let dimensions = model.requestedDimensions;
    // Without EMBEDDING_DIMENSIONS the model's size is known only from an answer: ask once, and
    // only when vectors of this model are stored whose size might differ.
    if (dimensions === undefined && (await storage.embeddings.dimensionsInUse(model.model)).length > 0) {
      dimensions = await model.dimensions();
    }
    return storage.embeddings.enqueueStale({ model: model.model, dimensions }, { version: newId(), notBefore: now() });
  }

  /** Embeds `jobs`; a batch the API rejects as bad input is retried one job at a time, so one bad text blocks no others. */
  async function embedJobs(jobs: EmbeddingJob[], signal?: AbortSignal): Promise<EmbedResult & { failed: number }> {
    try {
      return { ...(await embedder.embed(jobs, { signal, maxRetries: 0 })), failed: 0 };
    } catch (error) {
      if (!isRejectedInput(error)) {
        await storage.embeddings.reschedule(
          jobs.map((j) => j.taskId),
          { notBefore: now(), failed: true, error: errorText(error) },
        );
        throw error;
      }
      if (jobs.length > 1) {
        const total = { embedded: 0, unchanged: 0, failed: 0 };
        for (const job of jobs) {
          const r = await embedJobs([job], signal);
          total.embedded += r.embedded;
          total.unchanged += r.unchanged;
          total.failed += r.failed;
        }
        return total;
      }
      const job = jobs[0]!;
      await storage.embeddings.reschedule([job.taskId], {
        notBefore: inMs(Math.min(REJECTED_RETRY_MAX_MS, options.retryMaxMs * 2 ** Math.min(job.attempts, 20))),
        failed: true,
        error: errorText(error),
      });
      log.warn({ taskId: job.taskId, err: error }, 'embedding rejected for this task; will retry later');
      return { embedded: 0, unchanged: 0, failed: 1 };
    }
  }

  /** One round: the due jobs (up to BATCH) embedded. Returns how many were taken. */
  async function round(signal?: AbortSignal): Promise<number> {
    const jobs = await storage.embeddings.claimDue({ now: now(), limit: BATCH, leaseUntil: inMs(LEASE_MS) });
    if (jobs.length > 0) await embedJobs(jobs, signal);
    return jobs.length;
  }

  async function loop(signal: AbortSignal): Promise<void> {
    let swept = false;
    while (!signal.aborted) {
      let delay = options.intervalMs;
      try {
        if (!swept) {
          await sweep();
          swept = true;
        }
        if ((await round(signal)) === BATCH) delay = 0;
        failures = 0;
        backingOffUntil = 0;
      } catch (error) {
        if (signal.aborted && isAbort(error)) return;
        failures++;
        delay = backoff(error);
        backingOffUntil = Date.now() + delay;
        log.warn({ err: error, retryInMs: delay, failures }, 'embedding tasks failed; backing off');
      }
      await new Promise<void>((resolve) => {
        // The listener goes with the wait: the signal lives as long as the worker.
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, delay);
        wake = () => {
          // Writes wake the worker, except while it waits out an outage.
          if (Date.now() < backingOffUntil) return;
          done();
        };
        signal.addEventListener('abort', done, { once: true });
      });
      wake = undefined;
    }
  }

  return {
    /** Starts the background loop (no-op without a provider, or when running). */
    start(logger?: Log): void {
      if (logger) log = logger;
      if (running || !model.configured) return;
      stopping = new AbortController();
      running = loop(stopping.signal);
    },

    /** Stops the loop, aborting a request in flight, and waits for it. */
    async stop(): Promise<void> {
      stopping?.abort();
      await running;
      running = undefined;
    },

    /**
     * A task write's own attempt, after the task and its queue entry are stored: never
     * throws, and on failure leaves the task to the worker (woken now).
     */
    async indexNow(taskId: string): Promise<void> {
      if (!model.configured) return;
      try {
        const job = await storage.embeddings.job(taskId);
        if (!job) return;
        if (Date.now() < backingOffUntil) {
          // The provider is failing: don't make this request wait for it; the next batch takes it.
          await storage.embeddings.reschedule([taskId], { notBefore: now(), failed: false });
          return;
        }
        await embedder.embed([job], { maxRetries: 0, timeoutMs: INLINE_TIMEOUT_MS });
      } catch (error) {
        await storage.embeddings.reschedule([taskId], { notBefore: now(), failed: true, error: errorText(error) }).catch(() => {});
        wake?.();
      }
    },

    /** When a new job may be taken by the worker: after the write's own attempt had its chance. */
    newJobDueAt: () => inMs(INLINE_GRACE_MS),

    /**
     * Embeds everything queued or stale once, now (the admin CLI's reindex): stops at the
     * first upstream failure other than a rejected input.
     */
    async reindex(): Promise<ReindexSummary> {
      model.assertConfigured();
      const queued = await sweep();
      const total = { embedded: 0, unchanged: 0, failed: 0 };
      const seen = new Set<string>();
      /** Every job counts as due: a time after any job's. */
      const endOfTime = '9999-12-31T23:59:59.999Z';
      for (;;) {
        const jobs = (await storage.embeddings.claimDue({ now: endOfTime, limit: BATCH, leaseUntil: inMs(LEASE_MS) })).filter(
          (j) => !seen.has(j.taskId),
        );
        if (jobs.length === 0) break;
        jobs.forEach((j) => seen.add(j.taskId));
        const r = await embedJobs(jobs);
        total.embedded += r.embedded;
        total.unchanged += r.unchanged;
        total.failed += r.failed;
      }
      return {
        model: model.model,
        dimensions: model.knownDimensions() ?? null,
        queued,
        ...total,
        pending: await storage.embeddings.pendingCount(),
      };
    },
  };
}


/** The API refused the input itself (400/422): retrying the same text as is will not help. */
function isRejectedInput(error: unknown): boolean {
  if (error instanceof ContextLengthExceededError) return true;
  const cause = error instanceof AppError ? error.cause : undefined;
  return cause instanceof ProviderHttpError && (cause.status === 400 || cause.status === 422);
}

const errorText = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));
