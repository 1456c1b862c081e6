import type { Kysely } from 'kysely';
import { precompiler, type RunCompiled } from './precompiled-query.js';
import type { Database } from './schema.js';
import type { ApiKeyRecord, User, UserRepository } from './storage.js';

/** What a request's user is read as: the user and its limits (read on every request, so a change applies at once). */
const USER_COLUMNS = ['users.id', 'users.name', 'users.created_at', 'users.rate_limit_per_minute', 'users.tokens_per_minute'] as const;

type UserRow = Pick<Database['users'], 'id' | 'name' | 'created_at' | 'rate_limit_per_minute' | 'tokens_per_minute'>;

const toUser = (row: UserRow): User => ({
  id: row.id,
  name: row.name,
  createdAt: row.created_at,
  rateLimitPerMinute: row.rate_limit_per_minute,
  tokensPerMinute: row.tokens_per_minute,
});

/** The queries every request runs, compiled once per database. */
export function userQueries(db: Kysely<Database>, run?: RunCompiled) {
  const compile = precompiler(run);
  return {
    // No cache in front of it: a revoked key must fail on its very next request.
    findByKeyHash: compile(['keyHash'], (a: { keyHash: string }) =>
      db
        .selectFrom('api_keys')
        .innerJoin('users', 'users.id', 'api_keys.user_id')
        .select(USER_COLUMNS)
        .where('api_keys.key_hash', '=', a.keyHash)
        .where('api_keys.revoked_at', 'is', null),
    ),
    // Every JWT-authenticated request: the user of the token's subject, with its current limits.
    findBySubject: compile(['subject'], (a: { subject: string }) =>
      db.selectFrom('users').select(USER_COLUMNS).where('users.external_subject', '=', a.subject),
    ),
  };
}

type UserQueries = ReturnType<typeof userQueries>;

export function userRepository(db: Kysely<Database>, queries: UserQueries): UserRepository {
  const insertKey = (executor: Kysely<Database>, key: ApiKeyRecord) =>
    executor
      .insertInto('api_keys')
      .values({
        id: key.id,
        user_id: key.userId,
        key_hash: key.keyHash,
        key_prefix: key.keyPrefix,
        created_at: key.createdAt,
        revoked_at: null,
      })
      .execute();

  return {
    async createWithKey(user, key) {
      await db.transaction().execute(async (tx) => {
        await tx
          .insertInto('users')
          .values({
            id: user.id,
            name: user.name,
            created_at: user.createdAt,
            rate_limit_per_minute: user.rateLimitPerMinute ?? null,
            tokens_per_minute: user.tokensPerMinute ?? null,
          })
          .execute();
        await insertKey(tx, key);
      });
    },

    async addKey(key) {
      await insertKey(db, key);
    },

    async findByKeyHash(keyHash) {
      const row = (await queries.findByKeyHash(db, { keyHash })).rows[0];
      return row && toUser(row);
    },

    async findBySubject(subject) {
      const row = (await queries.findBySubject(db, { subject })).rows[0];
      return row && toUser(row);
    },

    async findOrCreateBySubject(subject, user) {
      // Racing first requests all insert; the unique column keeps one, and all read that one back.
      await db
        .insertInto('users')
        .values({ id: user.id, name: user.name, created_at: user.createdAt, external_subject: subject })
        .onConflict((oc) => oc.column('external_subject').doNothing())
        .execute();
      const row = (await queries.findBySubject(db, { subject })).rows[0];
      if (!row) throw new Error('user of a subject vanished right after its insert');
      return toUser(row);
    },

    async get(id) {
      const row = await db.selectFrom('users').select(USER_COLUMNS).where('users.id', '=', id).executeTakeFirst();
      return row && toUser(row);
    },

    async updateLimits(id, changes) {
      const set = {
        ...(changes.rateLimitPerMinute !== undefined && { rate_limit_per_minute: changes.rateLimitPerMinute }),
        ...(changes.tokensPerMinute !== undefined && { tokens_per_minute: changes.tokensPerMinute }),
      };
      if (Object.keys(set).length > 0) await db.updateTable('users').set(set).where('id', '=', id).execute();
      const row = await db.selectFrom('users').select(USER_COLUMNS).where('users.id', '=', id).executeTakeFirst();
      return row && toUser(row);
    },

    async list() {
      const rows = await db
        .selectFrom('users')
        .leftJoin('api_keys', (join) => join.onRef('api_keys.user_id', '=', 'users.id').on('api_keys.revoked_at', 'is', null))
        .select([...USER_COLUMNS, (eb) => eb.fn.count<number>('api_keys.id').as('active_keys')])
        .groupBy(USER_COLUMNS)
        .orderBy('users.id')
        .execute();
      return rows.map((r): User & { activeKeys: number } => ({ ...toUser(r), activeKeys: Number(r.active_keys) }));
    },

    async revokeKey(idOrHash, at) {
      const result = await db
        .updateTable('api_keys')
        .set({ revoked_at: at })
        .where((eb) => eb.or([eb('id', '=', idOrHash), eb('key_hash', '=', idOrHash)]))
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
  };
}
