import type { LoggedEvent, StreamPolicy, StreamSpec } from './stream-hub.js';

/** Why a producer was told to stop; its message is only for logs (an abort is a quiet end). */
export const abandoned = () => new Error('stream abandoned: its readers left');
export const cancelled = () => new Error('stream cancelled');

export interface ReaderRules {
  /** STREAM_RESUME_GRACE_SECONDS, in ms. */
  graceMs: number;
  /** Whether readers elsewhere (other instances) still follow the stream; asked when the grace runs out. */
  remoteReaders?: ((id: string) => Promise<boolean>) | undefined;
}

/**
 * One stream's events held in this process, with the readers following them here and the
 * policy rule that decides what their leaving does. Readers wait on one list of wake-ups
 * the next append or the end fires: an idle reader holds no timer and no socket of its own.
 * Sequence numbers are consecutive from 1, so event `seq` sits at index `seq - 1`.
 */
export class LocalLog {
  readonly events: LoggedEvent[] = [];
  readonly controller = new AbortController();
  ended = false;
  /** Date.now() at the end; 0 while running. */
  endedAt = 0;
  private waiters: Array<() => void> = [];
  private readers = 0;
  private grace: NodeJS.Timeout | undefined;

  constructor(
    readonly id: string,
    readonly spec: StreamSpec,
    private readonly rules: ReaderRules,
  ) {}

  get policy(): StreamPolicy {
    return this.spec.policy;
  }

  get lastSeq(): number {
    return this.events.length;
  }

  push(data: string, event: string | undefined): number {
    const seq = this.events.length + 1;
    this.events.push(event === undefined ? { seq, data } : { seq, event, data });
    this.wake();
    return seq;
  }

  finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.endedAt = Date.now();
    clearTimeout(this.grace);
    this.grace = undefined;
    this.wake();
  }

  /** Every event after `after`, then the live ones until the end; counts as a reader meanwhile. */
  async *follow(after: number, signal?: AbortSignal): AsyncGenerator<LoggedEvent> {
    this.attach();
    try {
      let index = Math.max(0, Math.floor(after));
      for (;;) {
        while (index < this.events.length) {
          if (signal?.aborted) return;
          yield this.events[index++]!;
        }
        if (this.ended || signal?.aborted) return;
        await this.changed(signal);
      }
    } finally {
      this.detach();
    }
  }

  private changed(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      if (!signal) {
        this.waiters.push(resolve);
        return;
      }
      const done = () => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      signal.addEventListener('abort', done, { once: true });
      this.waiters.push(done);
    });
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private attach(): void {
    this.readers++;
    clearTimeout(this.grace);
    this.grace = undefined;
  }

  /** The policy rule: what the last reader leaving a running stream does. */
  private detach(): void {
    if (--this.readers > 0 || this.ended) return;
    if (this.policy === 'default') this.controller.abort(abandoned());
    else if (this.policy === 'resumable') this.startGrace();
  }

  private startGrace(): void {
    clearTimeout(this.grace);
    this.grace = setTimeout(() => {
      this.grace = undefined;
      if (this.readers > 0 || this.ended) return;
      const remote = this.rules.remoteReaders;
      if (!remote) {
        this.controller.abort(abandoned());
        return;
      }
      // A reader on another instance keeps it running; when the check itself fails (Redis away), it runs on and is asked again after another grace.
      remote(this.id).then(
        (present) => {
          if (this.readers > 0 || this.ended) return;
          if (present) this.startGrace();
          else this.controller.abort(abandoned());
        },
        () => {
          if (this.readers === 0 && !this.ended) this.startGrace();
        },
      );
    }, this.rules.graceMs);
  }
}

/**
 * Producers of this instance, for drain() and shutdown: ended ones leave the set.
 * Shared by both hubs.
 */
export class RunningProducers {
  private readonly logs = new Set<LocalLog>();
  private idle: Array<() => void> = [];

  constructor(shutdownSignal: AbortSignal | undefined) {
    shutdownSignal?.addEventListener('abort', () => this.abortAll(shutdownSignal.reason), { once: true });
  }

  add(log: LocalLog): void {
    this.logs.add(log);
  }

  delete(log: LocalLog): void {
    this.logs.delete(log);
    if (this.logs.size > 0) return;
    const idle = this.idle;
    this.idle = [];
    for (const resolve of idle) resolve();
  }

  get size(): number {
    return this.logs.size;
  }

  drain(): Promise<void> {
    return this.logs.size === 0 ? Promise.resolve() : new Promise((resolve) => this.idle.push(resolve));
  }

  abortAll(reason: unknown): void {
    for (const log of this.logs) log.controller.abort(reason);
  }
}
