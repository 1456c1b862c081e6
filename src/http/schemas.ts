import { z } from 'zod';
import type { Conversation, Message } from '../storage/storage.js';

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
    // Ids are UUIDv7 and a page's cursor is its last id, so anything else was not issued here.
    cursor: z.uuid({ message: 'not a cursor this service issued' }).optional().describe('next_cursor of the previous page'),
  });

export const idParams = z.object({ id: z.string().min(1).max(100) });

/** A user message to the model (chat and agent). */
export const chatMessage = z
  .string()
  .min(1)
  .refine((s) => s.trim().length > 0, 'must not be blank')
  .describe('The user message');

/** The body of /chat, /chat/stream, /agent and /agent/stream. */
export const chatBody = z.object({
  message: chatMessage,
  conversation_id: z.string().min(1).max(100).optional().describe('Continue this conversation; a new one when absent'),
});

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

/** The task body is defined with the services, which hand the same shape to the agent's tools. */
export { taskJson as taskBody, toTaskJson as toTaskBody } from '../services/task-json.js';
