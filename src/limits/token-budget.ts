import { LRUCache } from 'lru-cache';
import { RateLimitedError } from '../errors.js';
import type { TokenBudget } from '../upstream/model-call.js';
import { currentWindow, type TokenBudgetStore } from './token-budget-store.js';

/** How many (key, model) reply sizes are remembered per instance. */
const REPLY_ESTIMATES = 10_000;

/**
 * Token budgets that hold under concurrency: each call reserves its counted prompt plus an
 * estimate of its reply before it goes upstream, atomically (in Redis: one script), and
 * is refused when that does not fit; afterwards the reservation is settled with the real
 * usage. A read before and an add after, as before, let a burst of 50 calls spend 6.2×
 * a 1,000-token budget (test/token-budget-burst.test.ts without the reservation). The reply is estimated per key and model from the replies seen so far
 * (a running average, with a margin), capped by the call's max tokens; with none seen
 * yet, the cap itself.
 */
export function tokenBudgets(
  store: TokenBudgetStore,
  deps: { failOpen: boolean; onFailure: (error: unknown) => void; refused: () => void; unavailable: () => Error },
) {
  const replies = new LRUCache<string, { average: number }>({ max: REPLY_ESTIMATES });

  /** `key`'s budget of `budget` tokens a minute (TOKENS_PER_MINUTE, or its user's own). */
  return (key: string, budget: number): TokenBudget => ({
    async reserve({ model, promptTokens, maxReplyTokens }) {
      const seen = replies.get(`${key}\0${model}`);
      const reply = seen ? Math.min(maxReplyTokens, Math.ceil(seen.average * 1.25)) : maxReplyTokens;
      const held = Math.max(1, Math.ceil(promptTokens + reply));
      const { window, resetMs } = currentWindow();
      let fits = true;
      try {
        fits = await store.reserve(key, window, held, budget);
      } catch (error) {
        deps.onFailure(error);
        if (!deps.failOpen) throw deps.unavailable();
        return () => {};
      }
      if (!fits) {
        deps.refused();
        throw new RateLimitedError(Math.max(1, Math.ceil(resetMs / 1000)), `Token budget of ${budget} tokens per minute exceeded`);
      }
      return (usage) => {
        if (usage === undefined) return;
        if (usage && maxReplyTokens > 0) {
          const entry = replies.get(`${key}\0${model}`);
          if (entry) entry.average = 0.8 * entry.average + 0.2 * usage.completion_tokens;
          else replies.set(`${key}\0${model}`, { average: usage.completion_tokens });
        }
        const used = usage?.total_tokens ?? 0;
        if (used !== held) store.add(key, window, used - held).catch(deps.onFailure);
      };
    },
  });
}
