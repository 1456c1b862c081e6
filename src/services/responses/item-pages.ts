import type { ItemRow, ListOrder } from '../../storage/storage.js';
import { itemsOfRow, type Item } from './items.js';
import type { ListQuery } from './request-schema.js';

/** OpenAI's list shape. */
export interface ItemList {
  object: 'list';
  data: Item[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

export const listOf = (data: Item[], hasMore = false): ItemList => ({
  object: 'list',
  data,
  first_id: data[0]?.id ?? null,
  last_id: data.at(-1)?.id ?? null,
  has_more: hasMore,
});

/**
 * One page of items over rows read in `order`: a row can hold several items (text and
 * calls), so `after` names an item, the page starts at its row, and the items up to it
 * are skipped. Rows are read `limit + 2` at a time: the `after` row, `limit` more rows
 * hold at least `limit` items, and one more says whether there are more.
 */
export async function itemPage(
  read: (options: { order: ListOrder; fromSeq?: number | undefined; limit: number }) => Promise<ItemRow[]>,
  query: ListQuery,
  /** The row of `after`, when it is one of this list's. */
  afterRow: ItemRow | undefined,
): Promise<ItemList> {
  const rows = await read({ order: query.order, fromSeq: afterRow?.seq, limit: query.limit + 2 });
  let items = rows.flatMap((row) => (query.order === 'asc' ? itemsOfRow(row) : itemsOfRow(row).reverse()));
  if (query.after) {
    const at = items.findIndex((item) => item.id === query.after);
    if (at >= 0) items = items.slice(at + 1);
  }
  return listOf(items.slice(0, query.limit), items.length > query.limit);
}

/** The item of a row that an id names. */
export const itemOfRow = (row: ItemRow, id: string): Item | undefined => itemsOfRow(row).find((item) => item.id === id);
