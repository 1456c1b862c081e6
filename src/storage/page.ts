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
