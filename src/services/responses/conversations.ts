import { NotFoundError } from '../../errors.js';
import { newId } from '../../shared/ids.js';
import type { Conversation, Storage } from '../../storage/storage.js';
import type { HistoryCache } from '../history-cache.js';
import type { TokenCounter } from '../token-counter.js';
import { callTag, parseItemId } from './item-ids.js';
import { itemPage, listOf, type ItemList } from './item-pages.js';
import { appendDrafts, findItem, inputDrafts } from './item-store.js';
import { itemsOfRow, type Item } from './items.js';
import type { InputItem, ListQuery } from './request-schema.js';

/** OpenAI's conversation object. */
export interface ConversationObject {
  id: string;
  object: 'conversation';
  created_at: number;
  metadata: Record<string, string>;
}

const toObject = (c: Conversation, metadata: Record<string, string> | null): ConversationObject => ({
  id: c.id,
  object: 'conversation',
  created_at: Math.floor(Date.parse(c.createdAt) / 1000),
  metadata: metadata ?? {},
});

export const conversationNotFound = (id: string) => new NotFoundError(`Conversation with id '${id}'`);
const itemNotFound = (id: string) => new NotFoundError(`Item with id '${id}'`);

/**
 * OpenAI's Conversations API over our conversations: the same rows /conversations and /chat
 * use, so a conversation made by either API is the other's too. Scoped to one user: another
 * user's id is "not found".
 */
export function conversationItemsService(deps: { storage: Storage; tokens: TokenCounter; history: Pick<HistoryCache, 'drop'> }) {
  const { storage, tokens, history } = deps;

  async function owned(userId: string, id: string): Promise<Conversation> {
    const conversation = await storage.conversations.get(userId, id);
    if (!conversation) throw conversationNotFound(id);
    return conversation;
  }

  async function object(userId: string, id: string): Promise<ConversationObject> {
    const conversation = await owned(userId, id);
    return toObject(conversation, (await storage.conversations.metadata(userId, id)) ?? null);
  }

  async function itemOf(userId: string, conversationId: string, itemId: string) {
    const found = await findItem(storage, userId, itemId);
    if (!found || found.row.conversationId !== conversationId) throw itemNotFound(itemId);
    return found;
  }

  return {
    async create(userId: string, body: { items?: InputItem[] | null; metadata?: Record<string, string> | null } | null | undefined): Promise<ConversationObject> {
      const drafts = body?.items?.length ? await inputDrafts(storage, tokens, userId, body.items, 'items') : [];
      const now = new Date().toISOString();
      const conversation: Conversation = { id: newId(), userId, title: null, createdAt: now, updatedAt: now };
      await storage.transaction(async (tx) => {
        await tx.conversations.create(conversation);
        if (body?.metadata) await tx.conversations.setMetadata(userId, conversation.id, body.metadata, now);
        if (drafts.length) await appendDrafts(tx, { conversationId: conversation.id, responseId: null, part: null, createdAt: now }, drafts);
      });
      return toObject(conversation, body?.metadata ?? null);
    },

    get: object,

    async update(userId: string, id: string, metadata: Record<string, string> | null): Promise<ConversationObject> {
      if (!(await storage.conversations.setMetadata(userId, id, metadata, new Date().toISOString()))) throw conversationNotFound(id);
      return object(userId, id);
    },

    async delete(userId: string, id: string): Promise<{ id: string; object: 'conversation.deleted'; deleted: true }> {
      if (!(await storage.conversations.delete(userId, id))) throw conversationNotFound(id);
      history.drop(id);
      return { id, object: 'conversation.deleted', deleted: true };
    },

    async listItems(userId: string, id: string, query: ListQuery): Promise<ItemList> {
      await owned(userId, id);
      const after = query.after ? (await itemOf(userId, id, query.after)).row : undefined;
      return itemPage((options) => storage.items.listConversation(id, options), query, after);
    },

    async addItems(userId: string, id: string, items: InputItem[]): Promise<ItemList> {
      await owned(userId, id);
      const drafts = await inputDrafts(storage, tokens, userId, items, 'items');
      const now = new Date().toISOString();
      const rows = await storage.transaction((tx) => appendDrafts(tx, { conversationId: id, responseId: null, part: null, createdAt: now }, drafts));
      if (!rows) throw conversationNotFound(id);
      return listOf(rows.flatMap(itemsOfRow));
    },

    async getItem(userId: string, id: string, itemId: string): Promise<Item> {
      await owned(userId, id);
      return (await itemOf(userId, id, itemId)).item;
    },

    /** Deletes one item; a row holding others (text beside tool calls) keeps them. Answers the conversation, as OpenAI does. */
    async deleteItem(userId: string, id: string, itemId: string): Promise<ConversationObject> {
      await owned(userId, id);
      const { row } = await itemOf(userId, id, itemId);
      const parsed = parseItemId(itemId)!;
      const calls = row.toolCalls ?? [];
      const rest = parsed.kind === 'function_call' ? calls.filter((c) => callTag(c.id) !== parsed.callTag) : calls;
      const content = parsed.kind === 'message' ? null : row.content;
      if (row.role !== 'tool' && (content || rest.length)) {
        await storage.items.rewrite(row.id, { content, toolCalls: rest.length ? rest : null });
      } else {
        await storage.items.delete(row.id);
      }
      history.drop(id);
      return object(userId, id);
    },
  };
}

export type ConversationItemsService = ReturnType<typeof conversationItemsService>;
