import { newId } from '../shared/ids.js';
import type { Storage, User } from '../storage/storage.js';
import { API_KEY_PREFIX, displayPrefix, generateApiKey, hashApiKey } from './api-keys.js';

export interface CreatedUser {
  user: User;
  /** The only time the key is visible: it is stored as a hash. */
  apiKey: string;
}

export function userService(storage: Storage) {
  return {
    async createUser(name: string): Promise<CreatedUser> {
      const now = new Date().toISOString();
      const user: User = { id: newId(), name, createdAt: now };
      const apiKey = generateApiKey();
      await storage.users.createWithKey(user, {
        id: newId(),
        userId: user.id,
        keyHash: hashApiKey(apiKey),
        keyPrefix: displayPrefix(apiKey),
        createdAt: now,
      });
      return { user, apiKey };
    },

    /**
     * The key's owner and the key's hash (what per-key limits are counted by, never the key
     * itself), or undefined for an unknown or revoked key. Checked on every request, so
     * revocation is immediate.
     */
    async authenticate(apiKey: string): Promise<{ user: User; keyHash: string } | undefined> {
      if (!apiKey.startsWith(API_KEY_PREFIX) || apiKey.length > 200) return undefined;
      const keyHash = hashApiKey(apiKey);
      const user = await storage.users.findByKeyHash(keyHash);
      return user && { user, keyHash };
    },

    listUsers: () => storage.users.list(),

    /** Revokes a key given either the key itself or its id. */
    revokeKey(keyOrId: string): Promise<boolean> {
      const target = keyOrId.startsWith(API_KEY_PREFIX) ? hashApiKey(keyOrId) : keyOrId;
      return storage.users.revokeKey(target, new Date().toISOString());
    },
  };
}

export type UserService = ReturnType<typeof userService>;
