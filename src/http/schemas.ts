import { z } from 'zod';
import { taskPriority, taskStatus } from '../services/task-schemas.js';
import type { Conversation, Message, Task } from '../storage/storage.js';

/** Shapes shared by several routes; each route file keeps its own request schemas. */

export const errorBody = z
  .object({
    error: z.object({
      code: z.string().describe('Stable machine-readable code, e.g. validation_error'),
      message: z.string(),
      request_id: z.string(),
    }),
  })
  .describe('Every error response has this body and the x-request-id header');

/** Error responses a route may answer, for the OpenAPI document. */
export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, errorBody])) as Record<number, typeof errorBody>;

/** `limit` and `cursor` query parameters of a paged list. */
export const pageQuery = (max: number, fallback: number) =>
  z.object({
    limit: z.coerce.number().int().min(1).max(max).default(fallback),
    cursor: z.string().min(1).max(100).optional().describe('next_cursor of the previous page'),
  });

export const idParams = z.object({ id: z.string().min(1).max(100) });

export const conversationBody = z.object({
  id: z.string(),
  title: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});

export const toConversationBody = (c: Conversation): z.infer<typeof conversationBody> => ({
  id: c.id,
  title: c.title,
  created_at: c.createdAt,
  updated_at: c.updatedAt,
});

export const messageBody = z.object({
  id: z.string(),
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.string().nullable(),
  tokens: z.number().int(),
  status: z.enum(['complete', 'incomplete']),
  created_at: z.string(),
  tool_calls: z
    .array(z.object({ id: z.string(), type: z.literal('function'), function: z.object({ name: z.string(), arguments: z.string() }) }))
    .optional(),
  tool_call_id: z.string().optional(),
});

export const toMessageBody = (m: Message): z.infer<typeof messageBody> => ({
  id: m.id,
  role: m.role,
  content: m.content,
  tokens: m.tokens,
  status: m.status,
  created_at: m.createdAt,
  ...(m.toolCalls && { tool_calls: m.toolCalls }),
  ...(m.toolCallId && { tool_call_id: m.toolCallId }),
});

export const taskBody = z.object({
  id: z.string(),
  title: z.string(),
  description: z.string().nullable(),
  priority: taskPriority,
  status: taskStatus,
  created_at: z.string(),
  updated_at: z.string(),
});

export const toTaskBody = (t: Task): z.infer<typeof taskBody> => ({
  id: t.id,
  title: t.title,
  description: t.description,
  priority: t.priority,
  status: t.status,
  created_at: t.createdAt,
  updated_at: t.updatedAt,
});
