import { z } from 'zod';
import { utcDay } from './usage-ledger.js';

/** Longest range one usage query covers. */
const MAX_USAGE_DAYS = 366;
/** Days covered when `from` is not given: the last 30, `to` included. */
const DEFAULT_DAYS = 30;

const DAY_MS = 86_400_000;

/** A calendar day, YYYY-MM-DD (2026-02-30 is none). */
const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date as YYYY-MM-DD')
  .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && utcDay(Date.parse(`${d}T00:00:00Z`)) === d, 'must be a real date as YYYY-MM-DD');

/**
 * `from` and `to` of a usage query: UTC days, both included. Default: `to` today and `from`
 * 29 days before it; `from` after `to`, or a range longer than MAX_USAGE_DAYS, is refused.
 */
export const usageRangeInput = z
  .object({
    from: day.optional().describe('First UTC day, YYYY-MM-DD (default: 29 days before `to`)'),
    to: day.optional().describe('Last UTC day, YYYY-MM-DD (default: today)'),
  })
  .transform(({ from, to }) => {
    const last = to ?? utcDay();
    return { from: from ?? utcDay(Date.parse(`${last}T00:00:00Z`) - (DEFAULT_DAYS - 1) * DAY_MS), to: last };
  })
  .refine(({ from, to }) => from <= to, { message: 'must not be after to', path: ['from'] })
  .refine(({ from, to }) => (Date.parse(to) - Date.parse(from)) / DAY_MS < MAX_USAGE_DAYS, {
    message: `the range may cover at most ${MAX_USAGE_DAYS} days`,
    path: ['from'],
  });

export type UsageRange = z.output<typeof usageRangeInput>;
