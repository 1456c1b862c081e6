import type { Kysely, Migration } from 'kysely';
import type { SqlDialectName } from '../storage.js';

/**
 * Tenancy: users signed in with the app's own JWTs (their `sub` in `external_subject`,
 * unique, so that 20 first requests at once create one user), per-user limits (null: the
 * defaults), and the usage ledger: tokens and requests per (user, day, model), added to
 * by upserts (services/usage-ledger.ts).
 */
export function tenancy(_dialect: SqlDialectName): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('users').addColumn('external_subject', 'text').execute();
      await db.schema.alterTable('users').addColumn('rate_limit_per_minute', 'integer').execute();
      await db.schema.alterTable('users').addColumn('tokens_per_minute', 'integer').execute();
      // NULLs are distinct on both databases: every API-key user has none.
      await db.schema.createIndex('users_external_subject').unique().on('users').column('external_subject').execute();

      await db.schema
        .createTable('usage_daily')
        .addColumn('user_id', 'text', (c) => c.notNull())
        /** UTC day, YYYY-MM-DD: sorts and compares as text on both databases. */
        .addColumn('day', 'text', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('requests', 'bigint', (c) => c.notNull())
        .addColumn('prompt_tokens', 'bigint', (c) => c.notNull())
        .addColumn('completion_tokens', 'bigint', (c) => c.notNull())
        .addColumn('total_tokens', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('usage_daily_pk', ['user_id', 'day', 'model'])
        .execute();
      await db.schema.createIndex('usage_daily_day').on('usage_daily').columns(['day', 'user_id']).execute();
    },
  };
}
