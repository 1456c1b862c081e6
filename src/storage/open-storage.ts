import { openPostgres } from './postgres.js';
import { openSqlite } from './sqlite.js';
import type { Storage } from './storage.js';

/** Opens the database named by DATABASE_URL (`sqlite:PATH` or `postgres://…`). */
export function openStorage(url: string, options: { poolSize?: number } = {}): Storage {
  if (url.startsWith('sqlite:')) return openSqlite(url.slice('sqlite:'.length));
  if (/^postgres(ql)?:\/\//.test(url)) return openPostgres(url, options);
  throw new Error('DATABASE_URL must be sqlite:PATH or postgres://…');
}
