import type { LuaCommand, TurnPipeline } from './redis-connection.js';

/**
 * Where model tokens used per API key are counted, in fixed one-minute windows
 * aligned to the clock (so every instance agrees on when a window ends). Like
 * @fastify/rate-limit's stores: one tiny interface, a local and a Redis implementation.
 */
export interface TokenBudgetStore {
  /**
   * Holds `tokens` in `key`'s window if they fit `budget`, atomically: false when the
   * window has reached the budget, or when it holds anything and `tokens` would take it
   * past the budget. (Into an empty window one call always fits, however large.)
   */
  reserve(key: string, window: number, tokens: number, budget: number): Promise<boolean>;
  /** Adds to (or, negative, takes from) `key`'s window: a reservation settled with what the call really used. */
  add(key: string, window: number, tokens: number): Promise<void>;
}

const TOKEN_WINDOW_MS = 60_000;

/** The current window's number and the milliseconds until it ends. */
export function currentWindow(now = Date.now()): { window: number; resetMs: number } {
  const window = Math.floor(now / TOKEN_WINDOW_MS);
  return { window, resetMs: (window + 1) * TOKEN_WINDOW_MS - now };
}

const fits = (used: number, tokens: number, budget: number): boolean => used < budget && (used === 0 || used + tokens <= budget);

/** In-process counts: one Map for the current window, dropped when the next one starts. */
export class LocalTokenBudgetStore implements TokenBudgetStore {
  private window = -1;
  private counts = new Map<string, number>();

  private at(window: number): Map<string, number> | undefined {
    if (window < this.window) return undefined; // a window already over
    if (window > this.window) {
      this.window = window;
      this.counts = new Map();
    }
    return this.counts;
  }

  async reserve(key: string, window: number, tokens: number, budget: number): Promise<boolean> {
    const counts = this.at(window);
    if (!counts) return true;
    const used = counts.get(key) ?? 0;
    if (!fits(used, tokens, budget)) return false;
    counts.set(key, used + tokens);
    return true;
  }

  async add(key: string, window: number, tokens: number): Promise<void> {
    const counts = this.at(window);
    if (counts) counts.set(key, Math.max(0, (counts.get(key) ?? 0) + tokens));
  }
}

/** RESERVE: the check and the hold in one step, so concurrent calls on any instance cannot overshoot together. */
const RESERVE_TOKENS: LuaCommand = {
  numberOfKeys: 1,
  lua: `local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local tokens = tonumber(ARGV[1])
local budget = tonumber(ARGV[2])
if used >= budget or (used > 0 and used + tokens > budget) then return 0 end
redis.call('INCRBY', KEYS[1], tokens)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`,
};

/** Adds to a window's count (never below 0) and keeps it a little longer than the window. */
const ADD_TOKENS: LuaCommand = {
  numberOfKeys: 1,
  lua: `local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if total < 0 then redis.call('SET', KEYS[1], 0) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`,
};

/**
 * Shared counts: a per-key, per-window Redis key that expires shortly after its window;
 * reservations are one Lua script each, so N instances together hold to the budget.
 * Commands of one event-loop turn go to Redis in one pipeline.
 */
export class RedisTokenBudgetStore implements TokenBudgetStore {
  constructor(
    private readonly redis: TurnPipeline,
    private readonly prefix: string,
  ) {
    redis.defineCommand('oabReserveTokens', RESERVE_TOKENS);
    redis.defineCommand('oabAddTokens', ADD_TOKENS);
  }

  private key(key: string, window: number): string {
    return `${this.prefix}${key}:${window}`;
  }

  async reserve(key: string, window: number, tokens: number, budget: number): Promise<boolean> {
    return Number(await this.redis.call('oabReserveTokens', this.key(key, window), tokens, budget, 2 * TOKEN_WINDOW_MS)) === 1;
  }

  async add(key: string, window: number, tokens: number): Promise<void> {
    await this.redis.call('oabAddTokens', this.key(key, window), tokens, 2 * TOKEN_WINDOW_MS);
  }
}
