import { createHash } from 'node:crypto';

/** Hex SHA-256 of a UTF-8 string: API keys (stored only hashed) and embedded texts (cache keys, change detection). */
export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
