import { z } from 'zod';

/**
 * The one definition of a semantic search input: the HTTP route's body and the
 * agent's search_tasks tool both use it. No transforms, so it converts to JSON Schema.
 */
export const searchInput = z.object({
  query: z
    .string()
    .min(1)
    .max(10_000)
    .refine((s) => s.trim().length > 0, 'must not be blank')
    .describe('What to look for, in plain words'),
  top_k: z.number().int().min(1).max(50).optional().describe('How many tasks to return, 1 to 50; 5 when omitted'),
});

export const DEFAULT_TOP_K = 5;
