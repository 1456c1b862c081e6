import type { Storage, UsageRecord } from '../storage/storage.js';
import type { UsageLedger } from './usage-ledger.js';
import type { UsageRange } from './usage-schemas.js';

/** Usage as recorded by the ledger: one user's, or everyone's (the admin API). */
export function usageService(storage: Storage, ledger: UsageLedger) {
  return {
    /**
     * Rows of the range, by day, user and model. This instance's sums are written first, so a
     * caller sees its own calls at once; other instances' within their USAGE_FLUSH_MS.
     */
    async report(range: UsageRange, userId?: string): Promise<UsageRecord[]> {
      await ledger.flush();
      return storage.usage.list({ ...range, userId });
    },
  };
}

export type UsageService = ReturnType<typeof usageService>;
