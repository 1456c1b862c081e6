import { randomBytes } from 'node:crypto';
import { sha256 } from '../shared/hash.js';

/** Every key starts with this, so that a leaked key is easy to recognise (and to scan for). */
export const API_KEY_PREFIX = 'oab_';

/** A new random key: the prefix and 32 random bytes, base64url. */
export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * Keys are stored only as SHA-256 hashes. Keys carry 256 random bits, so a fast
 * hash is safe (no dictionary to guess from), and looking a key up by its hash
 * through a unique index compares no secret byte by byte: the lookup time does
 * not depend on how much of a guessed key is right.
 */
export function hashApiKey(key: string): string {
  return sha256(key);
}

/** A short, non-secret prefix shown in listings. */
export const displayPrefix = (key: string): string => key.slice(0, API_KEY_PREFIX.length + 6);
