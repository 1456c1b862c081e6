import { InvalidRequestError } from '../../errors.js';
import { newId } from '../../shared/ids.js';
import type { ItemPart, ItemRow, Storage } from '../../storage/storage.js';
import type { TokenCounter } from '../token-counter.js';
import { parseItemId } from './item-ids.js';
import { asInputItem, draftsOf, itemsOfRow, type Item, type RowDraft } from './items.js';
import type { InputItem } from './request-schema.js';

type Repositories = Pick<Storage, 'items' | 'conversations'>;

/** A stored item of the user's, with its row; undefined for an unknown id or another user's. */
export async function findItem(storage: Pick<Storage, 'items'>, userId: string, id: string): Promise<{ row: ItemRow; item: Item } | undefined> {
  const parsed = parseItemId(id);
  if (!parsed) return undefined;
  const row = await storage.items.find(userId, parsed.rowId);
  const item = row && itemsOfRow(row).find((i) => i.id === id);
  return row && item ? { row, item } : undefined;
}

/**
 * Input items as rows to store and send: `item_reference`s are replaced by the stored items
 * they name (the user's own: any other id is "not found", as OpenAI answers it, naming the
 * field).
 */
export async function inputDrafts(storage: Pick<Storage, 'items'>, tokens: TokenCounter, userId: string, input: string | InputItem[], param: string): Promise<RowDraft[]> {
  if (typeof input === 'string') return draftsOf([{ type: 'message', role: 'user', content: input }], tokens);
  const resolved = await Promise.all(
    input.map(async (item, i) => {
      if (item.type !== 'item_reference') return item;
      const found = await findItem(storage, userId, item.id);
      if (!found) throw new InvalidRequestError(`Item with id '${item.id}' not found.`, `${param}[${i}].id`, 'not_found');
      return asInputItem(found.item);
    }),
  );
  return draftsOf(resolved, tokens);
}

/**
 * Stores drafts as rows, in order, in the caller's transaction: of a conversation (whose row
 * is touched first, as /chat's writes do: on PostgreSQL that lock orders concurrent turns)
 * and/or of a response. False when the conversation no longer exists.
 */
export async function appendDrafts(
  tx: Repositories,
  where: { conversationId: string | null; responseId: string | null; part: ItemPart | null; createdAt: string },
  drafts: ReadonlyArray<RowDraft & { id?: string }>,
): Promise<ItemRow[] | undefined> {
  if (where.conversationId && !(await tx.conversations.touch(where.conversationId, where.createdAt))) return undefined;
  return tx.items.append(drafts.map((d) => ({ ...d, id: d.id ?? newId(), ...where })));
}
