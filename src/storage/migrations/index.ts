import type { Migration } from 'kysely';
import type { SqlDialectName } from '../storage.js';
import { initialSchema } from './0001-initial-schema.js';
import { taskEmbeddings } from './0002-task-embeddings.js';
import { embeddingRevisions } from './0003-embedding-revisions.js';
import { responsesSchema } from './0004-responses.js';
import { tenancy } from './0005-tenancy.js';

/**
 * Versioned migrations, applied in name order at start-up. Never edit a
 * released migration; add the next one.
 */
export function migrations(dialect: SqlDialectName): Record<string, Migration> {
  return {
    '0001-initial-schema': initialSchema(dialect),
    '0002-task-embeddings': taskEmbeddings(dialect),
    '0003-embedding-revisions': embeddingRevisions(dialect),
    '0004-responses': responsesSchema(dialect),
    '0005-tenancy': tenancy(dialect),
  };
}
