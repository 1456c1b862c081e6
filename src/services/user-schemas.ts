import { z } from 'zod';
import type { UserLimitChanges } from '../storage/storage.js';

/** A user's own limit: a positive whole number, or null for the default (RATE_LIMIT_PER_MINUTE / TOKENS_PER_MINUTE). */
const limit = (what: string) =>
  z.number().int().min(1).max(100_000_000).nullable().optional().describe(`${what}; null resets it to the default`);

/** The limits of PATCH /admin/users/{id} and POST /admin/users (and the CLI's set-limits). */
export const userLimitsInput = z.object({
  rate_limit_per_minute: limit('Requests per minute on model-calling endpoints (overrides RATE_LIMIT_PER_MINUTE)'),
  tokens_per_minute: limit('Model tokens per minute (overrides TOKENS_PER_MINUTE)'),
});

export const createUserInput = userLimitsInput.extend({
  name: z.string().trim().min(1).max(200),
});

export const toLimitChanges = (input: z.output<typeof userLimitsInput>): UserLimitChanges => ({
  ...(input.rate_limit_per_minute !== undefined && { rateLimitPerMinute: input.rate_limit_per_minute }),
  ...(input.tokens_per_minute !== undefined && { tokensPerMinute: input.tokens_per_minute }),
});
