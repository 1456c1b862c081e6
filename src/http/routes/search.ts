import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DEFAULT_TOP_K, searchInput } from '../../services/search-schemas.js';
import type { SearchService } from '../../services/search-service.js';
import { modelCallOptions } from '../model-call-options.js';
import { errorResponses } from '../schemas.js';

const searchResults = z.object({
  results: z.array(
    z.object({
      id: z.string(),
      title: z.string(),
      similarity: z.number().describe('Cosine similarity of the task to the query, -1 to 1'),
    }),
  ),
});

export function searchRoutes(deps: { search: SearchService }): FastifyPluginAsyncZod {
  const { search } = deps;
  return async (app) => {
    app.post(
      '/search/semantic',
      {
        config: { modelCall: true },
        schema: {
          tags: ['search'],
          security: [{ bearerAuth: [] }],
          summary: "The caller's tasks most similar in meaning to a query, most similar first",
          body: searchInput,
          response: { 200: searchResults, ...errorResponses(400, 401, 413, 422, 429, 502, 503, 504) },
        },
      },
      async (request, reply) => {
        const { query, top_k: topK = DEFAULT_TOP_K } = request.body;
        // The query's embedding is a model call: its tokens count against the key's budget.
        const results = await search.search(request.user.id, query, topK, modelCallOptions(request, reply));
        return { results };
      },
    );
  };
}
