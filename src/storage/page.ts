import { sql, type SelectQueryBuilder } from 'kysely';
import type { Page } from './storage.js';

/**
 * One page from rows fetched with `limit + 1`: the extra row only says that
 * another page exists, and the cursor is the last row's key.
 */
export function toPage<Row, T>(rows: Row[], limit: number, map: (row: Row) => T, cursorOf: (item: T) => string): Page<T> {
  const data = rows.slice(0, limit).map(map);
  const last = data.at(-1);
  return { data, nextCursor: rows.length > limit && last !== undefined ? cursorOf(last) : null };
}

/**
 * One page of a table's rows newest first. Ids are time-sortable (UUIDv7), so "newest
 * first" is id order and the cursor is the last id.
 */
export async function newestFirst<DB, TB extends keyof DB, Row, T extends { id: string }>(
  query: SelectQueryBuilder<DB, TB, Row>,
  { limit, cursor }: { limit: number; cursor?: string | undefined },
  map: (row: Row) => T,
): Promise<Page<T>> {
  const id = sql.ref<string>('id');
  const rows = await (cursor ? query.where(id, '<', cursor) : query).orderBy(id, 'desc').limit(limit + 1).execute();
  return toPage(rows as Row[], limit, map, (item) => item.id);
}
