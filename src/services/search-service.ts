import type { SimilarTask, Storage } from '../storage/storage.js';
import type { EmbedOptions, EmbeddingModel } from '../upstream/embedding-model.js';

/**
 * Semantic search over a user's tasks, for the HTTP API and the agent's search_tasks
 * tool alike: the query is embedded (cached per text), and compared exactly with the
 * user's tasks embedded by the current model at the same size; older vectors are ignored.
 */
export function searchService(deps: { storage: Storage; model: EmbeddingModel }) {
  const { storage, model } = deps;
  return {
    async search(userId: string, query: string, topK: number, options: EmbedOptions = {}): Promise<SimilarTask[]> {
      model.assertConfigured();
      const vector = await model.embedQuery(query, options);
      return storage.embeddings.search(userId, { model: model.model, dimensions: vector.length }, vector, topK);
    },
  };
}

export type SearchService = ReturnType<typeof searchService>;
