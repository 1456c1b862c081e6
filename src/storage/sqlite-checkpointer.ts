import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * WAL checkpoints on a thread of their own. A checkpoint copies committed pages from
 * the WAL back into the database file and syncs both files to disk; left to SQLite's
 * default, the connection that commits the 1,000th page does it, and ours is the event
 * loop: every request waiting behind it then waits for two fsyncs. Measured with
 * bench/run.ts, /chat at concurrency 1 showed those stalls as a p97.5 of 5 ms against
 * a p50 under 1.5 ms.
 *
 * Here a worker thread with its own connection runs PASSIVE checkpoints (they never
 * block a writer or a reader) every `intervalMs`, on the machine's other core. The
 * server's connection keeps a high automatic threshold as a backstop, so the WAL stays
 * bounded even if this thread falls behind or dies. Durability is unchanged: a commit
 * is in the WAL before the caller hears of it, checkpointed or not.
 */
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const SQLite = require(workerData.driver);
const db = new SQLite(workerData.filename, { timeout: workerData.busyTimeoutMs });
const checkpoint = () => db.pragma('wal_checkpoint(PASSIVE)');
// A failed round (say, the disk is full for a moment) is tried again next time; the
// backstop threshold bounds the WAL meanwhile.
const timer = setInterval(() => { try { checkpoint(); } catch {} }, workerData.intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  try { checkpoint(); } finally { db.close(); parentPort.close(); }
});
`;

/** WAL pages after which the committing connection checkpoints itself (SQLite's default is 1,000). */
export const BACKSTOP_CHECKPOINT_PAGES = 10_000;

interface Checkpointer {
  /** Runs a last checkpoint and ends the thread. */
  stop(): Promise<void>;
}

export function startCheckpointer(options: {
  filename: string;
  busyTimeoutMs: number;
  intervalMs?: number;
  /** Called when the thread fails: the caller goes back to checkpointing in its own connection. */
  onFailure(error: unknown): void;
}): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(SOURCE, {
    eval: true,
    workerData: { driver, filename: options.filename, busyTimeoutMs: options.busyTimeoutMs, intervalMs: options.intervalMs ?? 100 },
  });
  worker.unref();
  let stopping = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.once('error', (error) => {
    if (!stopping) options.onFailure(error);
  });
  return {
    async stop() {
      stopping = true;
      worker.ref(); // unref'd while it runs, but its last checkpoint is waited for
      worker.postMessage('stop');
      await exited;
    },
  };
}
