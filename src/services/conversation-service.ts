import { NotFoundError } from '../errors.js';
import { newId } from '../shared/ids.js';
import type { Conversation, Message, Page, Storage } from '../storage/storage.js';
import type { HistoryCache } from './history-cache.js';

/** Conversations and their messages, always scoped to one user: another user's id is "not found". */
export function conversationService(storage: Storage, history: Pick<HistoryCache, 'drop'>) {
  async function get(userId: string, id: string): Promise<Conversation> {
    const conversation = await storage.conversations.get(userId, id);
    if (!conversation) throw new NotFoundError('Conversation');
    return conversation;
  }

  return {
    get,

    async create(userId: string, title: string | null = null): Promise<Conversation> {
      const now = new Date().toISOString();
      const conversation: Conversation = { id: newId(), userId, title, createdAt: now, updatedAt: now };
      await storage.conversations.create(conversation);
      return conversation;
    },

    list: (userId: string, page: { limit: number; cursor?: string | undefined }): Promise<Page<Conversation>> =>
      storage.conversations.list(userId, page),

    async update(userId: string, id: string, changes: { title?: string | null }): Promise<Conversation> {
      const updated = await storage.conversations.update(userId, id, { ...changes, updatedAt: new Date().toISOString() });
      if (!updated) throw new NotFoundError('Conversation');
      return updated;
    },

    async delete(userId: string, id: string): Promise<void> {
      if (!(await storage.conversations.delete(userId, id))) throw new NotFoundError('Conversation');
      history.drop(id);
    },

    async messages(userId: string, id: string, page: { limit: number; cursor?: string | undefined }): Promise<Page<Message>> {
      await get(userId, id);
      return storage.messages.list(id, page);
    },
  };
}

export type ConversationService = ReturnType<typeof conversationService>;
