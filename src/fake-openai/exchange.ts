/**
 * One request/response in flight that does asynchronous work (delays, streaming): tracks whether the
 * client went away, offers abortable sleeps and backpressure waits, and keeps the stream counters.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeOpenAICounters } from './types.js';

export class Exchange {
  /** The connection closed (client went away, server dropped it, or server shutdown). */
  closed = false;
  /** A `stream: true` chat request: counts in abortedStreams / completedStreams. */
  stream = false;
  /** The server destroyed the socket on purpose (drop faults): not counted as an abort. */
  dropped = false;
  private watching = false;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    private readonly counters: FakeOpenAICounters,
    private readonly shuttingDown: () => boolean,
  ) {}

  /** Start watching for the connection closing; call before any asynchronous step. */
  watch(): void {
    if (this.watching) return;
    this.watching = true;
    if (this.req.socket.destroyed) {
      this.onClose();
      return;
    }
    this.res.once('close', () => this.onClose());
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const wake = this.wake;
    this.wake = undefined;
    if (wake !== undefined) wake();
    if (this.stream && !this.res.writableEnded && !this.dropped && !this.shuttingDown()) this.counters.abortedStreams++;
  }

  /** Resolves after `ms`, or at once when the connection closes. */
  sleep(ms: number): Promise<void> {
    this.watch();
    if (this.closed || ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.wake = undefined;
        resolve();
      }, ms);
    });
  }

  /** Resolves on 'drain', or at once when the connection closes. */
  drain(): Promise<void> {
    this.watch();
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.res.off('drain', done);
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
      this.res.on('drain', done);
    });
  }

  /** Writes the last piece of a stream and counts it as completed. */
  finish(last: string): void {
    if (this.stream) this.counters.completedStreams++;
    this.res.end(last);
  }

  /** Destroys the socket without answering. */
  drop(): void {
    this.dropped = true;
    this.req.socket.destroy();
  }

  /** Writes `last` (non-empty) and destroys the socket once it has been handed to the OS. */
  dropAfter(last: string): void {
    this.dropped = true;
    const socket = this.req.socket;
    this.res.write(last, () => socket.destroy());
  }
}
