import { newId } from '../shared/ids.js';
import type { Storage, User, UserLimitChanges } from '../storage/storage.js';
import { API_KEY_PREFIX, displayPrefix, generateApiKey, hashApiKey } from './api-keys.js';

interface CreatedUser {
  user: User;
  /** The only time the key is visible: it is stored as a hash. */
  apiKey: string;
  keyId: string;
}

export function userService(storage: Storage) {
  const newKey = (userId: string, createdAt: string) => {
    const apiKey = generateApiKey();
    return { apiKey, record: { id: newId(), userId, keyHash: hashApiKey(apiKey), keyPrefix: displayPrefix(apiKey), createdAt } };
  };

  return {
    async createUser(name: string, limits: UserLimitChanges = {}): Promise<CreatedUser> {
      const now = new Date().toISOString();
      const user: User = { id: newId(), name, createdAt: now, rateLimitPerMinute: limits.rateLimitPerMinute ?? null, tokensPerMinute: limits.tokensPerMinute ?? null };
      const { apiKey, record } = newKey(user.id, now);
      await storage.users.createWithKey(user, record);
      return { user, apiKey, keyId: record.id };
    },

    /** A new key for an existing user; undefined for an unknown user. */
    async addKey(userId: string): Promise<{ apiKey: string; keyId: string } | undefined> {
      if (!(await storage.users.get(userId))) return undefined;
      const { apiKey, record } = newKey(userId, new Date().toISOString());
      await storage.users.addKey(record);
      return { apiKey, keyId: record.id };
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

    /**
     * The user of a verified JWT's subject, created on first sight (exactly once, however
     * many first requests race). Read on every request, so changed limits apply at once.
     */
    async userOfSubject(subject: string, name: string): Promise<User> {
      const found = await storage.users.findBySubject(subject);
      if (found) return found;
      return storage.users.findOrCreateBySubject(subject, { id: newId(), name, createdAt: new Date().toISOString() });
    },

    listUsers: () => storage.users.list(),

    /** Sets (a number) or resets to the default (null) a user's limits; undefined for an unknown user. */
    setLimits: (userId: string, changes: UserLimitChanges) => storage.users.updateLimits(userId, changes),

    /** Revokes a key given either the key itself or its id. */
    revokeKey(keyOrId: string): Promise<boolean> {
      const target = keyOrId.startsWith(API_KEY_PREFIX) ? hashApiKey(keyOrId) : keyOrId;
      return storage.users.revokeKey(target, new Date().toISOString());
    },
  };
}

export type UserService = ReturnType<typeof userService>;
