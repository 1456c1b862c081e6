import type { TurnPipeline } from './redis-connection.js';

/**
 * Where model tokens used per API key are counted, in fixed one-minute windows
 * aligned to the clock (so every instance agrees on when a window ends). Like
 * @fastify/rate-limit's stores: one tiny interface, a local and a Redis implementation.
 */
export interface TokenBudgetStore {
  /** Tokens recorded for `key` in the current window. */
  used(key: string, window: number): Promise<number>;
  /** Adds tokens to `key` in the current window. */
  add(key: string, window: number, tokens: number): Promise<void>;
}

export const TOKEN_WINDOW_MS = 60_000;

/** The current window's number and the milliseconds until it ends. */
export function currentWindow(now = Date.now()): { window: number; resetMs: number } {
  const window = Math.floor(now / TOKEN_WINDOW_MS);
  return { window, resetMs: (window + 1) * TOKEN_WINDOW_MS - now };
}

/** In-process counts: one Map for the current window, dropped when the next one starts. */
export class LocalTokenBudgetStore implements TokenBudgetStore {
  private window = -1;
  private counts = new Map<string, number>();

  private at(window: number): Map<string, number> {
    if (window !== this.window) {
      this.window = window;
      this.counts = new Map();
    }
    return this.counts;
  }

  async used(key: string, window: number): Promise<number> {
    return window === this.window ? (this.counts.get(key) ?? 0) : 0;
  }

  async add(key: string, window: number, tokens: number): Promise<void> {
    if (window < this.window) return; // a call that began in a window already over
    const counts = this.at(window);
    counts.set(key, (counts.get(key) ?? 0) + tokens);
  }
}

/** Adds to a window's count and keeps it a little longer than the window, atomically. */
const ADD_TOKENS = {
  numberOfKeys: 1,
  lua: "redis.call('INCRBY', KEYS[1], ARGV[1]) redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1",
};

/**
 * Shared counts: INCRBY on a per-key, per-window key that expires shortly after its
 * window. Reads and adds of one event-loop turn go to Redis in one pipeline.
 */
export class RedisTokenBudgetStore implements TokenBudgetStore {
  constructor(
    private readonly redis: TurnPipeline,
    private readonly prefix: string,
  ) {
    redis.defineCommand('oabAddTokens', ADD_TOKENS);
  }

  private key(key: string, window: number): string {
    return `${this.prefix}${key}:${window}`;
  }

  async used(key: string, window: number): Promise<number> {
    return Number((await this.redis.call('get', this.key(key, window))) ?? 0);
  }

  async add(key: string, window: number, tokens: number): Promise<void> {
    await this.redis.call('oabAddTokens', this.key(key, window), tokens, 2 * TOKEN_WINDOW_MS);
  }
}
