import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { SearchService } from '../../services/search-service.js';
import { modelCallOptions } from '../model-call-options.js';
import { errorResponses } from '../schemas.js';

const searchBody = z.object({
  query: z
    .string()
    .min(1)
    .max(10_000)
    .refine((s) => s.trim().length > 0, 'must not be blank')
    .describe('What to look for, in plain words'),
  top_k: z.number().int().min(1).max(50).default(5).describe('How many tasks to return, 1 to 50; 5 when omitted'),
});

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
          body: searchBody,
          response: { 200: searchResults, ...errorResponses(400, 401, 413, 422, 429, 502, 503, 504) },
        },
      },
      async (request, reply) => {
        const { signal } = modelCallOptions(request, reply);
        const results = await search.search(request.user.id, request.body.query, request.body.top_k, { signal });
        return { results };
      },
    );
  };
}
