import type { EmbeddingSpace, SimilarTask, Storage } from '../storage/storage.js';
import type { EmbedOptions, EmbeddingModel } from '../upstream/embedding-model.js';
import { cosineSimilarity, insertTopK } from '../shared/vectors.js';
import type { VectorIndexCache } from './vector-index/vector-index-cache.js';

/**
 * Semantic search over a user's tasks, for the HTTP API and the agent's search_tasks
 * tool alike: the query is embedded (cached per text), and compared exactly with the
 * user's tasks embedded by the current model at the same size; older vectors are ignored.
 *
 * With an index cache, the user's in-memory index narrows the tasks down to those that
 * can be in the top k (usually about k), which are then scored exactly from their
 * stored vectors; without one (or when the user's vectors do not fit it) the database
 * scores them all. Both give the same answer.
 */
export function searchService(deps: { storage: Storage; model: EmbeddingModel; index?: VectorIndexCache | undefined }) {
  const { storage, model, index } = deps;

  async function searchVector(userId: string, space: EmbeddingSpace, vector: Float32Array, topK: number): Promise<SimilarTask[]> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const candidates = await index?.candidates(userId, space, vector, topK);
      if (candidates === undefined) break;
      const tasks = await storage.embeddings.vectorsOf(userId, space, candidates);
      // A candidate deleted (or moved to another space) since the index was checked: its place
      // may belong to a task that was not a candidate, so look again (the index catches up first).
      if (tasks.length < candidates.length) continue;
      const best: SimilarTask[] = [];
      for (const task of tasks) insertTopK(best, { id: task.id, title: task.title, similarity: cosineSimilarity(vector, task.vector) }, topK);
      return best;
    }
    return storage.embeddings.search(userId, space, vector, topK);
  }

  return {
    async search(userId: string, query: string, topK: number, options: EmbedOptions = {}): Promise<SimilarTask[]> {
      model.assertConfigured();
      const vector = await model.embedQuery(query, options);
      return searchVector(userId, { model: model.model, dimensions: vector.length }, vector, topK);
    },
    /** Search with a query vector already embedded in `space`. */
    searchVector,
    /** Memory held by the in-memory indexes. */
    indexBytes: (): number => index?.bytes() ?? 0,
  };
}

export type SearchService = ReturnType<typeof searchService>;
