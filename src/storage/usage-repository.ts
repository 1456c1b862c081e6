import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { UsageRecord, UsageRepository } from './storage.js';

/** The usage ledger's rows: (user, day, model) counters, only ever added to. */
export function usageRepository(db: Kysely<Database>): UsageRepository {
  return {
    async add(records) {
      if (records.length === 0) return;
      await db.transaction().execute(async (tx) => {
        for (const r of records) {
          await tx
            .insertInto('usage_daily')
            .values({
              user_id: r.userId,
              day: r.day,
              model: r.model,
              requests: r.requests,
              prompt_tokens: r.promptTokens,
              completion_tokens: r.completionTokens,
              total_tokens: r.totalTokens,
            })
            .onConflict((oc) =>
              oc.columns(['user_id', 'day', 'model']).doUpdateSet((eb) => ({
                requests: eb('usage_daily.requests', '+', eb.ref('excluded.requests')),
                prompt_tokens: eb('usage_daily.prompt_tokens', '+', eb.ref('excluded.prompt_tokens')),
                completion_tokens: eb('usage_daily.completion_tokens', '+', eb.ref('excluded.completion_tokens')),
                total_tokens: eb('usage_daily.total_tokens', '+', eb.ref('excluded.total_tokens')),
              })),
            )
            .execute();
        }
      });
    },

    async list({ from, to, userId }) {
      let query = db.selectFrom('usage_daily').selectAll().where('day', '>=', from).where('day', '<=', to);
      if (userId !== undefined) query = query.where('user_id', '=', userId);
      const rows = await query.orderBy('day').orderBy('user_id').orderBy('model').execute();
      return rows.map(
        (r): UsageRecord => ({
          userId: r.user_id,
          day: r.day,
          model: r.model,
          requests: Number(r.requests),
          promptTokens: Number(r.prompt_tokens),
          completionTokens: Number(r.completion_tokens),
          totalTokens: Number(r.total_tokens),
        }),
      );
    },
  };
}
