import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { usageRangeInput } from '../../services/usage-schemas.js';
import type { UsageService } from '../../services/usage-service.js';
import type { UsageRecord } from '../../storage/storage.js';
import { errorResponses } from '../schemas.js';

/** One (day, model) row of usage, as the API shows it. */
export const usageRow = z.object({
  day: z.string().describe('UTC day, YYYY-MM-DD'),
  model: z.string(),
  requests: z.number().int().describe('Model calls the provider answered'),
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  total_tokens: z.number().int(),
});

export const toUsageRow = (r: UsageRecord) => ({
  day: r.day,
  model: r.model,
  requests: r.requests,
  prompt_tokens: r.promptTokens,
  completion_tokens: r.completionTokens,
  total_tokens: r.totalTokens,
});

export function usageRoutes(deps: { usage: UsageService }): FastifyPluginAsyncZod {
  const { usage } = deps;
  return async (app) => {
    app.get(
      '/usage',
      {
        schema: {
          tags: ['usage'],
          security: [{ bearerAuth: [] }],
          summary: "The caller's model usage per day and model",
          description:
            'Tokens and requests of every model call made for the caller (chat, agent, embeddings and search, /v1), per UTC day and model, days `from` to `to` included.',
          querystring: usageRangeInput,
          response: {
            200: z.object({ from: z.string(), to: z.string(), data: z.array(usageRow) }),
            ...errorResponses(401, 422),
          },
        },
      },
      async (request) => {
        const range = request.query;
        return { ...range, data: (await usage.report(range, request.user.id)).map(toUsageRow) };
      },
    );
  };
}
