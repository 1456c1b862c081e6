import type { Kysely } from 'kysely';
import { precompiler, type RunCompiled } from './precompiled-query.js';
import type { Database } from './schema.js';
import type { ApiKeyRecord, User, UserRepository } from './storage.js';

/** The queries every request runs, compiled once per database. */
export function userQueries(db: Kysely<Database>, run?: RunCompiled) {
  const compile = precompiler(db, run);
  return {
    // No cache in front of it: a revoked key must fail on its very next request.
    findByKeyHash: compile(['keyHash'], (a: { keyHash: string }) =>
      db
        .selectFrom('api_keys')
        .innerJoin('users', 'users.id', 'api_keys.user_id')
        .select(['users.id', 'users.name', 'users.created_at'])
        .where('api_keys.key_hash', '=', a.keyHash)
        .where('api_keys.revoked_at', 'is', null),
    ),
  };
}

export type UserQueries = ReturnType<typeof userQueries>;

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
        await tx.insertInto('users').values({ id: user.id, name: user.name, created_at: user.createdAt }).execute();
        await insertKey(tx, key);
      });
    },

    async addKey(key) {
      await insertKey(db, key);
    },

    async findByKeyHash(keyHash) {
      const row = (await queries.findByKeyHash(db, { keyHash })).rows[0];
      return row && { id: row.id, name: row.name, createdAt: row.created_at };
    },

    async list() {
      const rows = await db
        .selectFrom('users')
        .leftJoin('api_keys', (join) => join.onRef('api_keys.user_id', '=', 'users.id').on('api_keys.revoked_at', 'is', null))
        .select(['users.id', 'users.name', 'users.created_at', (eb) => eb.fn.count<number>('api_keys.id').as('active_keys')])
        .groupBy(['users.id', 'users.name', 'users.created_at'])
        .orderBy('users.id')
        .execute();
      return rows.map((r): User & { activeKeys: number } => ({
        id: r.id,
        name: r.name,
        createdAt: r.created_at,
        activeKeys: Number(r.active_keys),
      }));
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
